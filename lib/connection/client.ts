/** The node-redis 6 client type our connections are (any modules, functions, scripts, RESP and type mapping). */
import type { RedisClientType } from 'redis';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type RedisClient = RedisClientType<any, any, any, any, any>;
