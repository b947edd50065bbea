import { badConnectionReport, connectionProblem, releaseConnection } from '../lib/connection';
import { defineMachine, exit } from '../lib/define';
import { badConnectionExit, connectionInput, metaInput } from '../lib/shared';

export default defineMachine('release-connection', {
  friendlyName: 'Release connection',
  description: 'Close a connection and forget it.',
  extendedDescription:
    'Commands still waiting on it are rejected. Releasing a connection twice exits `badConnection` the second time and does nothing.',
  sideEffects: 'idempotent',
  inputs: { connection: connectionInput, meta: metaInput },
  exits: {
    success: exit({
      description: 'The connection is closed and can no longer be used.',
      outputFriendlyName: 'Report',
      outputDescription: 'Nothing of interest.',
      outputExample: { meta: '===' },
    }),
    badConnection: badConnectionExit,
  },
  fn: async (inputs, exits) => {
    const problem = connectionProblem(inputs.connection);
    if (problem) return exits.badConnection(badConnectionReport(problem));
    releaseConnection(inputs.connection);
    return exits.success();
  },
});
