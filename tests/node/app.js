// The express-session app the interop tests (tests/node_interop.rs) run beside the Rust one,
// on the same Redis (connect-redis) or PostgreSQL (connect-pg-simple).
//
// Environment: STORE (redis | pg), REDIS_URL, PREFIX, DATABASE_URL, TABLE, SECRET, MAX_AGE_MS.
// It listens on 127.0.0.1 at an ephemeral port and prints `listening <port>`.
'use strict'

const express = require('express')
const session = require('express-session')

async function store () {
  if (process.env.STORE === 'redis') {
    const { createClient } = require('redis')
    const { RedisStore } = require('connect-redis')
    const client = createClient({ url: process.env.REDIS_URL })
    await client.connect()
    return new RedisStore({ client, prefix: process.env.PREFIX || 'sess:' })
  }
  const pg = require('pg')
  const PgStore = require('connect-pg-simple')(session)
  return new PgStore({
    pool: new pg.Pool({ connectionString: process.env.DATABASE_URL }),
    tableName: process.env.TABLE || 'session',
    createTableIfMissing: true,
    pruneSessionInterval: false
  })
}

async function main () {
  const app = express()
  app.use(session({
    secret: process.env.SECRET,
    store: await store(),
    resave: false,
    saveUninitialized: false,
    cookie: { maxAge: Number(process.env.MAX_AGE_MS || 86400000) }
  }))

  // What passport and a flash library would keep, beside the id the Rust app reads.
  app.get('/login/:user', (req, res, next) => {
    req.session.regenerate((err) => {
      if (err) return next(err)
      req.session.user_id = req.params.user
      req.session.passport = { user: req.params.user }
      req.session.flash = { info: ['Welcome, "' + req.params.user + '"'] }
      res.send('in')
    })
  })
  app.get('/whoami', (req, res) => res.json({ id: req.sessionID, session: req.session }))
  app.get('/incr/:key', (req, res) => {
    req.session[req.params.key] = (req.session[req.params.key] || 0) + 1
    res.json(req.session[req.params.key])
  })
  app.get('/destroy', (req, res, next) => {
    req.session.destroy((err) => (err ? next(err) : res.send('bye')))
  })
  app.get('/regenerate', (req, res, next) => {
    req.session.regenerate((err) => {
      if (err) return next(err)
      req.session.user_id = 'regenerated'
      res.send('new')
    })
  })

  const server = app.listen(0, '127.0.0.1', () => {
    console.log('listening ' + server.address().port)
  })
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
