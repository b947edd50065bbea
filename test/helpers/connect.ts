import Pack from '../../index';
import type { Connection, Manager } from '../../index';

/** A manager and a connection on `url`, through the promise face. */
export async function connect(
  url: string,
  meta?: Record<string, unknown>,
): Promise<{ manager: Manager; connection: Connection }> {
  const { manager } = await Pack.promises.createManager({ connectionString: url, meta });
  const { connection } = await Pack.promises.getConnection({ manager });
  return { manager, connection };
}
