/**
 * Documentation that cannot rot: each `@default` in `ClientOptions` (lib/facade-types.ts) is the value the code
 * actually uses, and the options the facade defaults are the ones documented with `@default`.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { resolveClientArgs } from '../../lib/client-args';
import { DEFAULT_COMMAND_TIMEOUT_MS } from '../../lib/connection';
import { createClient, FacadeClient } from '../../lib/facade';

/** Property name → its `@default` text (or undefined), for the interface `name` in `file`. */
function documentedDefaults(file: string, name: string): Map<string, string | undefined> {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
  const out = new Map<string, string | undefined>();
  source.forEachChild((node) => {
    if (!ts.isInterfaceDeclaration(node) || node.name.text !== name) return;
    for (const member of node.members) {
      if (!ts.isPropertySignature(member)) continue;
      const tag = ts.getJSDocTags(member).find((t) => t.tagName.text === 'default');
      const text = typeof tag?.comment === 'string' ? tag.comment.trim() : undefined;
      out.set(member.name.getText(source), text);
      assert.ok(ts.getJSDocCommentsAndTags(member).length > 0, `${name}.${member.name.getText(source)} has JSDoc`);
    }
  });
  return out;
}

describe('documented defaults', () => {
  const defaults = documentedDefaults(path.join(__dirname, '..', '..', 'lib', 'facade-types.ts'), 'ClientOptions');

  it('every ClientOptions member has JSDoc, and the defaulted ones say @default', () => {
    for (const option of [
      'host',
      'port',
      'db',
      'tls',
      'family',
      'commandTimeout',
      'syncInterval',
      'connectTimeout',
      'retryDelay',
    ])
      assert.ok(defaults.get(option) !== undefined, `${option} has @default`);
  });

  it('each @default is what the code uses', () => {
    const client = createClient() as FacadeClient;
    assert.deepEqual(client.options, {
      syncInterval: Number(defaults.get('syncInterval')),
      connectTimeout: Number(defaults.get('connectTimeout')),
      retryDelay: Number(defaults.get('retryDelay')),
    });
    const host = JSON.parse(defaults.get('host')!.replace(/'/g, '"')) as string;
    assert.equal(resolveClientArgs([]).connectionString, `redis://${host}:${defaults.get('port')}`);
    assert.equal(
      resolveClientArgs([{ tls: JSON.parse(defaults.get('tls')!) }]).connectionString.startsWith('redis:'),
      true,
    );
    assert.equal(Number(defaults.get('commandTimeout')), DEFAULT_COMMAND_TIMEOUT_MS);
    assert.equal(resolveClientArgs([]).meta.database, undefined); // db 0: the server's default, nothing sent
    assert.equal(defaults.get('db'), '0');
  });
});
