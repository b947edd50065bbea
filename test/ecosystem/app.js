// A real Sails 1.5 app, lifted in a child process by the ecosystem suite (test/ecosystem/ecosystem.eco.ts).
// Its folder is made per run beside a node_modules link to the cached install; its configuration comes as JSON
// in ECO_CONFIG: { port, session?, sockets?, cacheUrl? }. Prints "LIFTED" once lifted; exits 1 with
// "LIFT FAILED: <message>" when lifting fails; GET /lower runs sails.lower() (prints "LOWERED"), after which the
// process should exit by itself; it never exits by itself otherwise.
'use strict';
/* global require, process, __dirname, console, setImmediate */
/* eslint-disable @typescript-eslint/no-require-imports */
const sails = require('sails');

const config = JSON.parse(process.env.ECO_CONFIG);

function leased(res, during) {
  sails
    .getDatastore('cache')
    .leaseConnection(during)
    .exec((err, value) => (err ? res.status(500).send(String(err.message || err)) : res.json({ value })));
}

const routes = {
  'GET /count': (req, res) => {
    req.session.n = (req.session.n || 0) + 1;
    req.session.save((err) => (err ? res.status(500).send(String(err.message)) : res.json({ n: req.session.n })));
  },
  'GET /ping': (req, res) => res.json({ pid: process.pid }),
  'GET /lower': (req, res) => {
    res.json({ lowering: true });
    setImmediate(() =>
      sails.lower((err) => console.log(err ? 'LOWER FAILED: ' + String(err.message || err) : 'LOWERED')),
    );
  },
  'GET /join': (req, res) => {
    if (!req.isSocket) return res.badRequest();
    sails.sockets.join(req, req.param('room'), (err) =>
      err ? res.serverError(err) : res.json({ id: sails.sockets.getId(req) }),
    );
  },
  'GET /say': (req, res) => {
    sails.sockets.broadcast(req.param('room'), 'said', { msg: req.param('msg'), from: config.port });
    res.json({ ok: true });
  },
  'GET /all-sockets': (req, res) => {
    // socket.io 4's allSockets(), answered across instances by socket.io-redis (request/response channels, numsub)
    sails.io.allSockets().then(
      (ids) => res.json({ count: ids.size }),
      (err) => res.status(500).send(String(err.message || err)),
    );
  },
  'GET /lease-cb': (req, res) =>
    // sails-redis README: the callback form
    leased(res, (db, proceed) => {
      db.set('eco:cb', 'v-cb', (err) => {
        if (err) return proceed(err);
        db.get('eco:cb', (err, value) => proceed(err, value));
      });
    }),
  'GET /lease-async': (req, res) =>
    leased(res, async (db) => {
      await new Promise((ok, ko) => db.set('eco:async', 'v-async', (e) => (e ? ko(e) : ok())));
      return new Promise((ok, ko) => db.get('eco:async', (e, v) => (e ? ko(e) : ok(v))));
    }),
  'GET /lease-driver': (req, res) => {
    const ds = sails.getDatastore('cache');
    leased(res, async (db) => {
      await ds.driver.cacheValue({ connection: db, key: 'eco:driver', value: 'v-driver' });
      return (await ds.driver.getCachedValue({ connection: db, key: 'eco:driver' })).value;
    });
  },
};

const liftConfig = {
  appPath: process.cwd(),
  port: config.port,
  environment: 'development',
  log: { level: 'warn' },
  hooks: { grunt: false, views: false, i18n: false },
  security: { csrf: false },
  models: { migrate: 'safe' },
  datastores: config.cacheUrl ? { cache: { adapter: 'sails-redis', url: config.cacheUrl } } : {},
  routes,
};
if (config.session) liftConfig.session = Object.assign({ secret: 'eco-session-secret' }, config.session);
if (config.sockets) liftConfig.sockets = config.sockets;

process.on('uncaughtException', (err) => {
  console.error('UNCAUGHT', err && err.stack);
  process.exit(70);
});
sails.lift(liftConfig, (err) => {
  if (err) {
    console.error('LIFT FAILED: ' + String((err && err.message) || err));
    process.exit(1);
  }
  console.log('LIFTED');
});
void __dirname;
