import { defaulted, defineMachine, exit, optional } from '../lib/define';
import { invalidInput } from '../lib/errors';
import { describeValue } from '../lib/options';

/** A number, or a string of one; NaN for anything else (an object is never converted: it may throw doing so). */
function wholeNumber(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && value.trim() !== '') return Number(value);
  return NaN;
}

export default defineMachine('create-connection-url', {
  friendlyName: 'Create connection URL',
  description: 'Build a Redis connection URL from a host, port, credentials and database number.',
  extendedDescription:
    'User and password are URL-encoded, so any character is safe in them. With `tls`, the URL is rediss://.',
  sync: true,
  inputs: {
    host: defaulted<string>('127.0.0.1', {
      description: 'The host name or IP address of the Redis server.',
      example: '127.0.0.1',
    }),
    port: defaulted<number | string>(6379, { description: 'The port the Redis server listens on.', example: 6379 }),
    pass: optional<string>({ description: 'The password, if the server needs one.', example: 'iheartredis' }),
    username: optional<string>({ description: 'The ACL user name (Redis 6+), if any.', example: 'app' }),
    db: optional<number | string>({ description: 'The database number to select.', example: 12 }),
    tls: optional<boolean>({ description: 'Connect over TLS (a rediss:// URL).', example: false }),
  },
  exits: {
    success: exit<string>({
      description: 'The URL was built.',
      outputFriendlyName: 'Redis URL',
      outputDescription: 'A URL that createManager() accepts.',
      outputExample: 'redis://:secret@127.0.0.1:6379/12',
    }),
  },
  fn: (inputs, exits) => {
    const host = inputs.host === undefined || inputs.host === null ? '127.0.0.1' : inputs.host;
    if (typeof host !== 'string' || host === '' || /[\s/@?#]/.test(host))
      throw invalidInput(`\`host\` must be a host name or IP address (got ${describeValue(host)}).`);
    const port = inputs.port === undefined || inputs.port === null ? 6379 : wholeNumber(inputs.port);
    if (!Number.isInteger(port) || port < 1 || port > 65535)
      throw invalidInput(`\`port\` must be a whole number from 1 to 65535 (got ${describeValue(inputs.port)}).`);
    if (inputs.username !== undefined && inputs.username !== null && typeof inputs.username !== 'string')
      throw invalidInput(`\`username\` must be a string (got ${describeValue(inputs.username)}).`);
    let auth = '';
    if (inputs.pass !== undefined && inputs.pass !== null && inputs.pass !== '') {
      if (typeof inputs.pass !== 'string') throw invalidInput('`pass` must be a string.');
      auth = `${encodeURIComponent(inputs.username ?? '')}:${encodeURIComponent(inputs.pass)}@`;
    } else if (inputs.username) {
      auth = `${encodeURIComponent(inputs.username)}@`;
    }
    let path = '';
    if (inputs.db !== undefined && inputs.db !== null && inputs.db !== '') {
      const db = wholeNumber(inputs.db);
      if (!Number.isInteger(db) || db < 0)
        throw invalidInput(`\`db\` must be a whole number, 0 or more (got ${describeValue(inputs.db)}).`);
      path = `/${db}`;
    }
    const h = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
    return exits.success(`${inputs.tls ? 'rediss' : 'redis'}://${auth}${h}:${port}${path}`);
  },
});
