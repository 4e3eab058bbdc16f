// hexfield coverage map: MapLibre GL JS (vendored, ES modules), vector
// tiles from this server, an offline Natural Earth base map. No request
// leaves this origin.
window.__errors = [];
// Every URL MapLibre fetches (tiles are fetched by its worker), for tests.
window.__requests = [];
window.addEventListener('error', (e) => window.__errors.push(String(e.message)));
window.addEventListener('unhandledrejection', (e) => window.__errors.push(String(e.reason)));

const $ = (id) => document.getElementById(id);

function hasWebGL2() {
  try {
    return !!document.createElement('canvas').getContext('webgl2');
  } catch {
    return false;
  }
}

function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

function ago(ms) {
  if (!ms) return '—';
  const s = Math.max(0, (Date.now() - ms) / 1000);
  if (s < 120) return `${Math.round(s)} s ago`;
  if (s < 7200) return `${Math.round(s / 60)} min ago`;
  if (s < 172800) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

async function getJSON(url) {
  const r = await fetch(url);
  const body = await r.json();
  if (!r.ok) throw new Error(body.message || `${r.status}`);
  return body;
}

// The view from the URL: /hex/{h3}, /hotspot/{address}, ?z=&lat=&lng=&window=.
const params = new URLSearchParams(location.search);
const state = {
  z: Number(params.get('z') || 3),
  lat: Number(params.get('lat') || 20),
  lng: Number(params.get('lng') || 0),
  win: ['24h', '7d', '30d', 'all'].includes(params.get('window')) ? params.get('window') : 'all',
  path: location.pathname,
  version: 0,
};

async function main() {
  if (!hasWebGL2()) {
    $('map').hidden = true;
    $('panel').hidden = true;
    $('legend').hidden = true;
    $('nowebgl').hidden = false;
    window.__noWebGL = true;
    return;
  }
  const ml = await import('/vendor/maplibre-gl.mjs');
  const cfg = await getJSON('/api/v1/config');
  state.version = cfg.version;
  // The same table as maps.ResForZoom (golden-tested on the server).
  const resForZoom = (z) => cfg.zoom_bands.reduce((r, b) => (z >= b ? r + 1 : r), cfg.min_res);
  window.__resForZoom = resForZoom;

  const topo = await getJSON('/basemap/countries-50m.json');
  const land = topojson.feature(topo, topo.objects.land || topo.objects.countries);
  const borders = topojson.mesh(topo, topo.objects.countries, (a, b) => a !== b);

  const tileURL = () => `${location.origin}/tiles/${state.win}/{z}/{x}/{y}.pbf?v=${state.version}`;
  const map = new ml.Map({
    container: 'map',
    style: { version: 8, sources: {}, layers: [{ id: 'bg', type: 'background', paint: { 'background-color': '#cfe3ef' } }] },
    center: [state.lng, state.lat],
    zoom: state.z,
    maxZoom: 16,
    attributionControl: false,
    transformRequest: (url) => {
      window.__requests.push(url);
      return { url };
    },
  });
  window.__map = map;
  map.addControl(new ml.NavigationControl({ showCompass: false }), 'top-right');

  map.on('load', () => {
    map.addSource('land', { type: 'geojson', data: land });
    map.addSource('borders', { type: 'geojson', data: borders });
    map.addSource('cov', { type: 'vector', tiles: [tileURL()], tileSize: 512, maxzoom: 14, promoteId: { coverage: 'h3' } });
    map.addSource('links', { type: 'geojson', data: { type: 'FeatureCollection', features: [] } });
    map.addLayer({ id: 'land', type: 'fill', source: 'land', paint: { 'fill-color': '#f4f1ea' } });
    map.addLayer({ id: 'borders', type: 'line', source: 'borders', paint: { 'line-color': '#aaa', 'line-width': 0.6 } });
    map.addLayer({
      id: 'scale', type: 'fill', source: 'cov', 'source-layer': 'hotspot_hexes', layout: { visibility: 'none' },
      paint: { 'fill-color': ['interpolate', ['linear'], ['get', 'scale'], 0, '#d32f2f', 0.5, '#fbc02d', 1, '#388e3c'], 'fill-opacity': 0.5 },
    });
    map.addLayer({
      id: 'coverage', type: 'fill', source: 'cov', 'source-layer': 'coverage',
      paint: {
        'fill-color': '#27EE76',
        'fill-opacity': ['interpolate', ['linear'], ['get', 'rssi'], -120, 0.1, -100, 0.45, -80, 0.8],
      },
    });
    map.addLayer({
      id: 'coverage-line', type: 'line', source: 'cov', 'source-layer': 'coverage',
      paint: {
        'line-color': ['case', ['boolean', ['feature-state', 'selected'], false], '#000', ['get', 'mapper'], '#11aa77', '#27EE76'],
        'line-width': ['case', ['boolean', ['feature-state', 'selected'], false], 2.5, 0.5],
      },
    });
    map.addLayer({ id: 'link-hexes', type: 'line', source: 'links', filter: ['==', ['get', 'kind'], 'hotspot_hex'], paint: { 'line-color': '#1565c0', 'line-width': 2 } });
    map.addLayer({ id: 'links', type: 'line', source: 'links', filter: ['==', ['get', 'kind'], 'link'], paint: { 'line-color': '#1565c0', 'line-width': 1.5, 'line-dasharray': [2, 1] } });
    map.addLayer({
      id: 'hotspots', type: 'circle', source: 'cov', 'source-layer': 'hotspots',
      paint: { 'circle-radius': 5, 'circle-color': ['case', ['get', 'online'], '#1565c0', '#999'], 'circle-stroke-color': '#fff', 'circle-stroke-width': 1 },
    });
    map.once('idle', () => {
      window.__mapReady = true;
    });
    openDeepLink();
  });

  let popup = null;
  let selected = null;
  const show = (lngLat, html) => {
    if (popup) popup.remove();
    popup = new ml.Popup({ maxWidth: '360px' }).setLngLat(lngLat).setHTML(`<div class="popup">${html}</div>`).addTo(map);
  };
  const select = (h3) => {
    if (selected) map.setFeatureState({ source: 'cov', sourceLayer: 'coverage', id: selected }, { selected: false });
    selected = h3;
    if (h3) map.setFeatureState({ source: 'cov', sourceLayer: 'coverage', id: h3 }, { selected: true });
  };

  async function openHex(h3, lngLat) {
    const hx = await getJSON(`/api/v1/hex/${h3}?window=${state.win}`);
    const rows = hx.heard_by.map((h) => `<tr><td>${esc(h.name)}</td><td>${h.rssi}</td><td>${h.snr}</td><td>${h.n}</td><td>${ago(h.last_seen_ms)}</td></tr>`).join('');
    show(lngLat || [hx.lng, hx.lat], `<b>hex ${esc(hx.h3)}</b> (res ${hx.res})<br>` +
      `best RSSI <b>${hx.rssi} dBm</b> · median ${hx.median_rssi} · best SNR ${hx.snr} dB<br>` +
      `${hx.n} samples · last seen ${ago(hx.last_seen_ms)} · ${hx.hotspots} hotspot(s)` +
      (rows ? `<table class="heard"><tr><th>heard by</th><th>RSSI</th><th>SNR</th><th>n</th><th>last</th></tr>${rows}</table>` : ''));
    select(h3);
    if (hx.res === 9) {
      map.getSource('links').setData(await getJSON(`/api/v1/hex/${h3}/links?window=${state.win}`));
    } else {
      map.getSource('links').setData({ type: 'FeatureCollection', features: [] });
    }
    state.path = `/hex/${h3}`;
    syncURL();
    window.__lastPopup = hx;
  }

  async function openHotspot(addr, lngLat) {
    const h = await getJSON(`/api/v1/hotspots/${encodeURIComponent(addr)}`);
    const rw = h.rewards.slice(0, 5).map((r) => `epoch ${r.epoch}: ${r.amount}`).join('<br>');
    show(lngLat || [h.lng, h.lat], `<b class="hs-name">${esc(h.name)}</b><br><small>${esc(h.address)}</small><br>` +
      `status <b>${h.status}</b> · last seen ${ago(h.last_seen_ms)}<br>hex ${esc(h.hex)} · reward scale ${h.reward_scale.toFixed(2)}` +
      (rw ? `<br>${rw}` : ''));
    state.path = `/hotspot/${addr}`;
    syncURL();
    window.__lastPopup = h;
  }

  async function openDeepLink() {
    try {
      let m = state.path.match(/^\/hex\/([0-9a-fA-F]{15,16})$/);
      if (m) {
        const hx = await getJSON(`/api/v1/hex/${m[1]}?window=${state.win}`);
        if (!params.get('z')) map.jumpTo({ center: [hx.lng, hx.lat], zoom: hx.res >= 9 ? 12 : 10.5 });
        await openHex(m[1]);
        return;
      }
      m = state.path.match(/^\/hotspot\/([1-9A-HJ-NP-Za-km-z]{32,44})$/);
      if (m) {
        const h = await getJSON(`/api/v1/hotspots/${m[1]}`);
        if (!params.get('z')) map.jumpTo({ center: [h.lng, h.lat], zoom: 12 });
        await openHotspot(m[1]);
      }
    } catch (e) {
      $('msg').textContent = e.message;
    }
  }

  map.on('click', async (e) => {
    try {
      const hs = map.queryRenderedFeatures(e.point, { layers: ['hotspots'] });
      if (hs.length) return await openHotspot(hs[0].properties.id, e.lngLat);
      const cov = map.queryRenderedFeatures(e.point, { layers: ['coverage'] });
      if (cov.length) return await openHex(cov[0].properties.h3, e.lngLat);
      select(null);
      map.getSource('links').setData({ type: 'FeatureCollection', features: [] });
    } catch (err) {
      $('msg').textContent = err.message;
    }
  });
  for (const l of ['hotspots', 'coverage']) {
    map.on('mouseenter', l, () => (map.getCanvas().style.cursor = 'pointer'));
    map.on('mouseleave', l, () => (map.getCanvas().style.cursor = ''));
  }

  function syncURL() {
    const c = map.getCenter();
    const q = new URLSearchParams({ z: map.getZoom().toFixed(2), lat: c.lat.toFixed(5), lng: c.lng.toFixed(5), window: state.win });
    history.replaceState(null, '', `${state.path}?${q}`);
    $('status').textContent = `z ${map.getZoom().toFixed(1)} · H3 res ${resForZoom(map.getZoom())} · window ${state.win}`;
  }
  map.on('moveend', syncURL);
  syncURL();

  const setWindow = (w) => {
    state.win = w;
    for (const b of document.querySelectorAll('#windows button')) b.classList.toggle('on', b.dataset.w === w);
    const src = map.getSource('cov');
    if (src) src.setTiles([tileURL()]);
    if (popup) popup.remove();
    select(null);
    syncURL();
  };
  for (const b of document.querySelectorAll('#windows button')) b.addEventListener('click', () => setWindow(b.dataset.w));
  setWindow(state.win);

  $('scale').addEventListener('change', (e) => {
    if (map.getLayer('scale')) map.setLayoutProperty('scale', 'visibility', e.target.checked ? 'visible' : 'none');
  });

  $('search').addEventListener('submit', async (e) => {
    e.preventDefault();
    $('msg').textContent = '';
    try {
      const { results } = await getJSON(`/api/v1/search?q=${encodeURIComponent($('q').value)}`);
      const r = results[0];
      window.__lastSearch = r;
      map.flyTo({ center: [r.lng, r.lat], zoom: r.zoom, duration: 0 });
      if (r.kind === 'hotspot') await openHotspot(r.address);
      else if (r.kind === 'hex') await openHex(r.h3);
    } catch (err) {
      $('msg').textContent = err.message;
    }
  });

  // Live updates: a new data version redraws the tiles.
  const es = new EventSource('/api/v1/events');
  es.addEventListener('hexes', (e) => {
    const d = JSON.parse(e.data);
    if (d.version > state.version) {
      state.version = d.version;
      const src = map.getSource('cov');
      if (src) src.setTiles([tileURL()]);
    }
  });
}

main().catch((e) => {
  window.__errors.push(String(e));
  $('msg').textContent = String(e);
});
