// express-session with the load benchmark's routes: the system Node teams would be leaving.
// bench/load.sh starts it beside the Rust servers; the routes, their answers and the session
// contents are the ones of bench/src/apps.rs and bench/src/schema.rs.
//
//   node bench/express/app.js --store memory|redis|none [--port 8090]
//                             [--redis redis://127.0.0.1:6390] [--count-bytes] [--max-seconds 1800]
//
// Configured like the Rust systems: resave false, saveUninitialized false, a browser-session
// cookie, the same secret. Express's own defaults (ETag, X-Powered-By) are left as they are.
// `--store none` is bare Express: the same routes with no session middleware, answering bodies
// of the same form as bare axum does, so express-session's cost is measured against Express
// itself.
//
// `/__stats` answers `<bytes> <writes>` written to the memory store so far when `--count-bytes`
// wraps it (the JSON MemoryStore keeps, on `set` and on `touch`), `0 0` otherwise.

'use strict';

const express = require('express');
const session = require('express-session');

const SECRET = 'a benchmark secret that is long enough';
const CART_ITEMS = 1024;

function options(argv) {
  const found = {
    store: 'memory',
    port: 8090,
    redis: 'redis://127.0.0.1:6390',
    countBytes: false,
    maxSeconds: 1800,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === '--count-bytes') {
      found.countBytes = true;
      continue;
    }
    const value = argv[++i];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    switch (flag) {
      case '--store': found.store = value; break;
      case '--port': found.port = Number(value); break;
      case '--redis': found.redis = value; break;
      case '--max-seconds': found.maxSeconds = Number(value); break;
      default: throw new Error(`unknown flag ${flag}`);
    }
  }
  return found;
}

// The 16 KiB cart of bench/src/schema.rs, item for item.
function cart() {
  const items = [];
  for (let i = 0; i < CART_ITEMS; i++) {
    items.push({
      sku: 100000 + i,
      quantity: 1 + (i % 5),
      label: `item-${String(i).padStart(6, '0')}`,
    });
  }
  return items;
}

// Counts the JSON the memory store keeps, as the Rust counting stores count what they write.
function counted(store, stats) {
  const set = store.set.bind(store);
  const touch = store.touch.bind(store);
  store.set = (sid, sess, callback) => {
    stats.bytes += Buffer.byteLength(JSON.stringify(sess));
    stats.writes += 1;
    set(sid, sess, callback);
  };
  store.touch = (sid, sess, callback) => {
    touch(sid, sess, callback);
    const kept = store.sessions[sid];
    if (kept !== undefined) {
      stats.bytes += Buffer.byteLength(kept);
      stats.writes += 1;
    }
  };
  return store;
}

async function makeStore(opts, stats) {
  if (opts.store === 'none') return null;
  if (opts.store === 'memory') {
    const store = new session.MemoryStore();
    return opts.countBytes ? counted(store, stats) : store;
  }
  if (opts.store === 'redis') {
    const { createClient } = require('redis');
    const { RedisStore } = require('connect-redis');
    const client = createClient({ url: opts.redis });
    client.on('error', (err) => console.error('express: redis:', err.message));
    await client.connect();
    return new RedisStore({ client });
  }
  throw new Error(`no store ${opts.store}`);
}

function increment(req, res) {
  req.session.views = (req.session.views || 0) + 1;
  res.send(String(req.session.views));
}

// Bare Express: the routes of `bare()` in bench/src/apps.rs.
function bareRoutes(app) {
  app.get('/none', (req, res) => res.send('ok'));
  app.get('/read', (req, res) => res.send('1'));
  app.get('/incr', (req, res) => res.send('2'));
  app.get('/large', (req, res) => res.send('2'));
  app.get('/large-read', (req, res) => res.send(String(CART_ITEMS)));
  app.get('/init', (req, res) => res.send('ok'));
  app.get('/init-large', (req, res) => res.send('ok'));
}

function sessionRoutes(app, store) {
  app.use(session({ secret: SECRET, resave: false, saveUninitialized: false, store }));
  app.get('/none', (req, res) => res.send('ok'));
  app.get('/read', (req, res) => res.send(String(req.session.views || 0)));
  app.get('/incr', increment);
  app.get('/large', increment);
  app.get('/large-read', (req, res) => res.send(String((req.session.cart || []).length)));
  app.get('/init', (req, res) => {
    req.session.views = 1;
    req.session.user = 'visitor@example.com';
    req.session.theme = 'dark';
    res.send('ok');
  });
  app.get('/init-large', (req, res) => {
    req.session.views = 1;
    req.session.cart = cart();
    res.send('ok');
  });
}

async function main() {
  const opts = options(process.argv.slice(2));
  const stats = { bytes: 0, writes: 0 };
  const store = await makeStore(opts, stats);

  const app = express();
  app.get('/__stats', (req, res) => res.send(`${stats.bytes} ${stats.writes}\n`));
  if (store === null) bareRoutes(app);
  else sessionRoutes(app, store);

  const server = app.listen(opts.port, '127.0.0.1', () => {
    const what = store === null ? 'bare Express' : `express-session on ${opts.store} store`;
    console.error(`express: ${what}, http://127.0.0.1:${opts.port}`);
  });
  const stop = () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  setTimeout(() => {
    console.error('express: --max-seconds reached, stopping');
    stop();
  }, opts.maxSeconds * 1000).unref();
}

main().catch((err) => {
  console.error('express:', err.message);
  process.exit(1);
});
