import { destroyManager, isManager, type Manager } from '../lib/connection';
import { defineMachine, exit, required } from '../lib/define';
import { coded, ErrorCodes } from '../lib/errors';
import { closeNearCache } from '../lib/near-cache';
import { failedExit, metaInput } from '../lib/shared';

export default defineMachine('destroy-manager', {
  friendlyName: 'Destroy manager',
  description: 'Destroy a manager and close every connection it handed out.',
  extendedDescription:
    'Destroying a manager twice succeeds and does nothing. No connection can be made from it afterwards.',
  sideEffects: 'idempotent',
  inputs: {
    manager: required<Manager>({
      friendlyName: 'Manager',
      description: 'The manager to destroy, from createManager().',
      example: '===',
    }),
    meta: metaInput,
  },
  exits: {
    success: exit({
      description: 'The manager and all of its connections are closed.',
      outputFriendlyName: 'Report',
      outputDescription: 'Nothing of interest.',
      outputExample: { meta: '===' },
    }),
    failed: failedExit('The value given is not a manager from createManager().'),
  },
  fn: async (inputs, exits) => {
    if (!isManager(inputs.manager)) {
      return exits.failed({
        error: coded(ErrorCodes.BAD_MANAGER, 'The `manager` must be a manager from createManager().'),
      });
    }
    destroyManager(inputs.manager);
    closeNearCache(inputs.manager);
    return exits.success();
  },
});
