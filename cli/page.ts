/**
 * The inspector's page: static HTML, CSS and a script without dependencies. The script renders everything with
 * `textContent` (item data is whatever other programs wrote, so it is never parsed as HTML) and follows one
 * Server-Sent Events stream (see inspect.ts for its events). The selected collection is in the URL's hash,
 * `#<database>/<collection>` (each URI-encoded), so a view can be bookmarked or shared.
 */

export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>machinepack-redis-ts inspect</title>
<link rel="stylesheet" href="/app.css">
</head>
<body>
<header>
  <h1>machinepack-redis-ts <span class="muted">inspect</span></h1>
  <span id="server" class="muted"></span>
  <span id="connection" class="badge">connecting…</span>
</header>
<main>
  <nav id="databases" aria-label="Databases and collections"><p class="muted">Looking for collections…</p></nav>
  <section id="detail">
    <p id="hint" class="muted">Pick a collection on the left to see its items live.</p>
    <div id="collection" hidden>
      <h2 id="title"></h2>
      <dl id="stats"></dl>
      <p id="stats-note" class="muted" hidden>Status and stats (revisions, catch-ups, resyncs) are not available in this version of the library.</p>
      <table id="items">
        <thead><tr><th>key</th><th>data</th><th>revision</th></tr></thead>
        <tbody></tbody>
      </table>
      <h3>Events</h3>
      <ol id="log" reversed></ol>
    </div>
  </section>
</main>
<footer id="problem" hidden></footer>
<script src="/app.js"></script>
</body>
</html>
`;

export const PAGE_STYLE = `
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2330; background: #f5f6f8; }
header { display: flex; align-items: baseline; gap: 1em; padding: .8em 1.2em; background: #1d2330; color: #fff; }
header h1 { font-size: 1.15em; margin: 0; }
header .muted { color: #aab2c0; }
.muted { color: #6b7385; }
.badge { margin-left: auto; padding: .1em .7em; border-radius: 1em; background: #6b7385; color: #fff; font-size: .85em; }
.badge.live, .badge.connected { background: #1f8a4c; }
.badge.loading { background: #b7791f; }
.badge.stale, .badge.down { background: #c53030; }
main { display: grid; grid-template-columns: 17em 1fr; min-height: calc(100vh - 3em); }
nav { padding: 1em; border-right: 1px solid #dde1e8; background: #fff; }
nav h2 { font-size: .8em; text-transform: uppercase; letter-spacing: .06em; color: #6b7385; margin: 1.2em 0 .3em; }
nav h2:first-child { margin-top: 0; }
nav ul { list-style: none; margin: 0; padding: 0; }
nav a { display: flex; justify-content: space-between; gap: .5em; padding: .3em .5em; border-radius: .3em; color: inherit; text-decoration: none; }
nav a:hover { background: #eef1f6; }
nav a.selected { background: #dbe7ff; font-weight: 600; }
nav a small { color: #6b7385; font-weight: normal; }
section { padding: 1em 1.5em; min-width: 0; }
h2#title { margin: 0 0 .5em; font-size: 1.3em; }
dl { display: flex; flex-wrap: wrap; gap: .5em; margin: 0 0 1em; }
dl div { background: #fff; border: 1px solid #dde1e8; border-radius: .4em; padding: .35em .8em; }
dt { font-size: .75em; color: #6b7385; text-transform: uppercase; letter-spacing: .05em; }
dd { margin: 0; font-weight: 600; font-variant-numeric: tabular-nums; }
table { width: 100%; border-collapse: collapse; background: #fff; border: 1px solid #dde1e8; }
th, td { text-align: left; padding: .4em .7em; border-bottom: 1px solid #eef1f6; vertical-align: top; }
th { font-size: .8em; color: #6b7385; font-weight: 600; background: #fafbfc; }
td.key { font-weight: 600; white-space: nowrap; }
td.data { font-family: ui-monospace, "SFMono-Regular", Menlo, monospace; font-size: .9em; word-break: break-all; }
td.revision { color: #6b7385; font-variant-numeric: tabular-nums; }
tr.flash { animation: flash 1.5s ease-out; }
@keyframes flash { from { background: #fff3b0; } to { background: transparent; } }
h3 { font-size: .95em; margin: 1.5em 0 .4em; }
ol#log { margin: 0; padding-left: 2.5em; font-family: ui-monospace, Menlo, monospace; font-size: .85em; max-height: 14em; overflow: auto; }
ol#log .set { color: #1f6f43; } ol#log .delete { color: #a12a2a; } ol#log .expire { color: #8a5a00; }
footer { position: fixed; bottom: 0; left: 0; right: 0; padding: .5em 1.2em; background: #fde8e8; color: #a12a2a; }
`;

export const PAGE_SCRIPT = `'use strict';
(function () {
  var $ = function (id) { return document.getElementById(id); };
  var items = new Map();
  var source = null;
  var selected = null;

  function el(tag, className, text) {
    var e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function hashOf(db, c) { return '#' + encodeURIComponent(db) + '/' + encodeURIComponent(c); }
  function fromHash() {
    var m = /^#([^/]+)\\/([^/]+)$/.exec(location.hash);
    if (!m) return null;
    try { return { database: decodeURIComponent(m[1]), collection: decodeURIComponent(m[2]) }; } catch (e) { return null; }
  }
  function plural(n, word) { return n + ' ' + word + (n === 1 ? '' : 's'); }

  function renderDatabases(list) {
    var nav = $('databases');
    nav.textContent = '';
    if (list.length === 0) { nav.appendChild(el('p', 'muted', 'No collections yet.')); return; }
    list.forEach(function (db) {
      nav.appendChild(el('h2', '', db.name));
      var ul = el('ul');
      db.collections.forEach(function (c) {
        var a = el('a');
        a.href = hashOf(db.name, c.name);
        a.dataset.database = db.name;
        a.dataset.collection = c.name;
        if (selected && selected.database === db.name && selected.collection === c.name) a.className = 'selected';
        a.appendChild(el('span', '', c.name));
        a.appendChild(el('small', '', plural(c.items, 'item') + ' · rev ' + c.revision));
        var li = el('li');
        li.appendChild(a);
        ul.appendChild(li);
      });
      nav.appendChild(ul);
    });
  }

  function row(key, item) {
    var tr = el('tr');
    tr.dataset.key = key;
    tr.appendChild(el('td', 'key', key));
    tr.appendChild(el('td', 'data', JSON.stringify(item.data)));
    tr.appendChild(el('td', 'revision', item.revision === null || item.revision === undefined ? '–' : String(item.revision)));
    return tr;
  }
  function renderItems(flashKey) {
    var body = document.querySelector('#items tbody');
    body.textContent = '';
    Array.from(items.keys()).sort().forEach(function (key) {
      var tr = row(key, items.get(key));
      if (key === flashKey) tr.className = 'flash';
      body.appendChild(tr);
    });
  }
  function renderStatus(s) {
    var dl = $('stats');
    dl.textContent = '';
    function add(name, value) {
      var d = el('div');
      d.appendChild(el('dt', '', name));
      var dd = el('dd', '', String(value));
      d.appendChild(dd);
      dl.appendChild(d);
      return dd;
    }
    if (s.status) add('status', s.status).className = 'badge ' + s.status;
    add('items', s.items);
    if (s.stats) Object.keys(s.stats).forEach(function (k) {
      if (k === 'items') return;
      var v = s.stats[k];
      add(k, /At$/.test(k) && v > 0 ? new Date(v).toLocaleTimeString() : v);
    });
    $('stats-note').hidden = !!(s.status || s.stats);
  }
  function log(event, key) {
    var li = el('li', event, new Date().toLocaleTimeString() + '  ' + event + '  ' + key);
    var list = $('log');
    list.insertBefore(li, list.firstChild);
    while (list.children.length > 50) list.removeChild(list.lastChild);
  }

  function connect() {
    if (source) source.close();
    selected = fromHash();
    items.clear();
    $('log').textContent = '';
    $('stats').textContent = '';
    document.querySelector('#items tbody').textContent = '';
    $('hint').hidden = !!selected;
    $('collection').hidden = !selected;
    document.querySelectorAll('nav a').forEach(function (a) {
      a.className = selected && a.dataset.database === selected.database && a.dataset.collection === selected.collection ? 'selected' : '';
    });
    var query = selected ? '?database=' + encodeURIComponent(selected.database) + '&collection=' + encodeURIComponent(selected.collection) : '';
    if (selected) $('title').textContent = selected.database + ' / ' + selected.collection + ' (loading…)';
    source = new EventSource('/events' + query);
    var on = function (name, fn) { source.addEventListener(name, function (e) { fn(JSON.parse(e.data)); }); };
    source.onopen = function () { var b = $('connection'); b.textContent = 'connected'; b.className = 'badge connected'; };
    source.onerror = function () { var b = $('connection'); b.textContent = 'reconnecting…'; b.className = 'badge down'; };
    on('server', function (s) { $('server').textContent = s.url; document.title = 'inspect · ' + s.url; });
    on('databases', renderDatabases);
    on('snapshot', function (s) {
      items.clear();
      s.items.forEach(function (i) { items.set(i.key, { data: i.data, revision: i.revision }); });
      $('title').textContent = s.database + ' / ' + s.collection;
      renderItems();
    });
    on('change', function (c) {
      if (c.event === 'set') items.set(c.key, { data: c.data, revision: c.revision });
      else items.delete(c.key);
      renderItems(c.event === 'set' ? c.key : undefined);
      log(c.event, c.key);
    });
    on('status', function (s) { renderStatus(s); $('problem').hidden = true; });
    on('problem', function (p) { var f = $('problem'); f.textContent = p.message; f.hidden = false; });
  }

  window.addEventListener('hashchange', connect);
  connect();
})();
`;
