// The starattn web page: upload a document (POST /v1/documents), follow phase 1 per host
// (GET /v1/documents/{id}/events), then ask questions (POST /v1/chat/completions, streamed).
'use strict';
const $ = (id) => document.getElementById(id);
let docId = null;

function headers(json) {
  const h = {};
  const key = $('apikey').value.trim();
  if (key) h['Authorization'] = 'Bearer ' + key;
  if (json) h['Content-Type'] = 'application/json';
  return h;
}

async function errorText(r) {
  try { const j = await r.json(); return j.error ? j.error.message : r.statusText; } catch (e) { return r.status + ' ' + r.statusText; }
}

fetch('/health').then(r => r.json()).then(j => { $('model').textContent = j.model; }).catch(() => {});

$('file').addEventListener('change', async (e) => {
  const f = e.target.files[0];
  if (f) $('doc').value = await f.text();
});

function showHosts(d) {
  const box = $('hosts');
  for (const h of d.hosts) {
    let row = document.getElementById('host-' + h.name);
    if (!row) {
      row = document.createElement('div');
      row.className = 'host';
      row.id = 'host-' + h.name;
      row.innerHTML = '<span class="name"></span><div class="bar"><div></div></div><span class="info"></span>';
      row.querySelector('.name').textContent = h.name;
      box.appendChild(row);
    }
    const frac = h.blocks_total > 0 ? h.blocks_done / h.blocks_total : 0;
    row.querySelector('.bar > div').style.width = (100 * frac).toFixed(0) + '%';
    row.dataset.done = h.blocks_done;
    row.dataset.total = h.blocks_total;
    let info = h.blocks_done + '/' + (h.blocks_total || '?') + ' blocks, ' + h.tokens + ' tok';
    if (h.phase1_ms !== undefined) info += ', ' + h.phase1_ms.toFixed(0) + ' ms';
    if (h.query_host) info += ' (query host)';
    row.querySelector('.info').textContent = info;
  }
  $('docstatus').textContent = d.id + ': ' + d.status + ', ' + d.context_tokens + ' tokens' + (d.error ? ' (' + d.error + ')' : '');
  $('docstatus').dataset.status = d.status;
  if (d.timing) {
    $('p1').textContent = 'phase 1: ' + d.timing.phase1_ms.toFixed(0) + ' ms (slowest host ' +
      d.timing.phase1_critical_path_ms.toFixed(0) + ' ms), KV ' + (d.kv_bytes / 1048576).toFixed(2) + ' MiB';
  }
}

// Follows the document's event stream (fetch, so that the API key header can be sent).
async function follow(id) {
  const r = await fetch('/v1/documents/' + id + '/events', { headers: headers(false) });
  if (!r.ok) throw new Error(await errorText(r));
  const reader = r.body.getReader();
  const dec = new TextDecoder();
  let buf = '', last = null;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const ev = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const data = ev.split('\n').filter(l => l.startsWith('data: ')).map(l => l.slice(6)).join('\n');
      if (data) { last = JSON.parse(data); showHosts(last); }
    }
  }
  return last;
}

$('upload').addEventListener('click', async () => {
  const text = $('doc').value;
  if (!text.trim()) { $('docstatus').textContent = 'the document is empty'; return; }
  $('upload').disabled = true;
  $('ask').disabled = true;
  $('hosts').innerHTML = '';
  $('p1').textContent = '';
  $('docstatus').textContent = 'uploading...';
  try {
    if (docId) fetch('/v1/documents/' + docId, { method: 'DELETE', headers: headers(false) }).catch(() => {});
    const r = await fetch('/v1/documents', { method: 'POST', headers: headers(true), body: JSON.stringify({ text }) });
    if (!r.ok) throw new Error(await errorText(r));
    const d = await r.json();
    docId = d.id;
    showHosts(d);
    const end = await follow(d.id);
    if (end && end.status === 'ready') $('ask').disabled = false;
  } catch (e) {
    $('docstatus').innerHTML = '';
    const s = document.createElement('span'); s.className = 'err'; s.textContent = String(e.message || e);
    $('docstatus').appendChild(s);
  } finally {
    $('upload').disabled = false;
  }
});

$('ask').addEventListener('click', async () => {
  const q = $('question').value.trim();
  if (!q || !docId) return;
  const item = document.createElement('div');
  item.className = 'qa';
  item.innerHTML = '<div class="q"></div><div class="a"></div><div class="t"></div>';
  item.querySelector('.q').textContent = q;
  $('answers').prepend(item);
  const a = item.querySelector('.a'), t = item.querySelector('.t');
  t.textContent = 'waiting...';
  const start = performance.now();
  let firstAt = null;
  try {
    const r = await fetch('/v1/chat/completions', {
      method: 'POST', headers: headers(true),
      body: JSON.stringify({ model: $('model').textContent || 'starattn', document_id: docId, stream: true,
        max_tokens: parseInt($('maxtok').value, 10) || 128, messages: [{ role: 'user', content: q }] })
    });
    if (!r.ok) throw new Error(await errorText(r));
    const reader = r.body.getReader();
    const dec = new TextDecoder();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const line = buf.slice(0, i).trim();
        buf = buf.slice(i + 2);
        if (!line.startsWith('data: ')) continue;
        const data = line.slice(6);
        if (data === '[DONE]') { item.dataset.done = '1'; continue; }
        const j = JSON.parse(data);
        if (j.error) throw new Error(j.error.message);
        const c = j.choices && j.choices[0];
        if (c && c.delta && c.delta.content) {
          if (firstAt === null) firstAt = performance.now();
          a.textContent += c.delta.content;
        }
        if (c && c.finish_reason && j.starattn) {
          const s = j.starattn.timing;
          t.textContent = 'phase 1: ' + s.phase1_ms.toFixed(0) + ' ms' + (s.phase1_reused ? ' (done once, reused)' : '') +
            ' · time to first token: ' + s.ttft_ms.toFixed(0) + ' ms (in the browser ' +
            ((firstAt ?? performance.now()) - start).toFixed(0) + ' ms)' +
            ' · ' + s.decode_tokens_per_s.toFixed(1) + ' tokens/s · finish: ' + c.finish_reason;
        }
      }
    }
    item.dataset.done = '1';
  } catch (e) {
    t.innerHTML = '';
    const s = document.createElement('span'); s.className = 'err'; s.textContent = String(e.message || e);
    t.appendChild(s);
    item.dataset.done = 'error';
  }
});
