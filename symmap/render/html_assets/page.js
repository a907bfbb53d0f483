"use strict";
(async function () {
const $ = (id) => document.getElementById(id);
const errs = [];
window.addEventListener("error", (e) => { $("errors").textContent += "script error: " + e.message + "\n"; });
let D;
try {
  const el = $("symmap-data");
  if (el.dataset.enc === "gzip") {
    const bin = Uint8Array.from(atob(el.textContent.trim()), (c) => c.charCodeAt(0));
    const txt = await new Response(new Blob([bin]).stream().pipeThrough(new DecompressionStream("gzip"))).text();
    D = JSON.parse(txt);
  } else D = JSON.parse(el.textContent);
} catch (e) { $("errors").textContent = "cannot read the embedded data: " + e; return; }
const M = D.meta, CATS = D.cats, SEV = ["info", "low", "medium", "high", "critical"];
$("title").textContent = "symmap · " + M.title;
$("sub").textContent = [M.kind, M.path, M.arch, M.os, M.nregions + " regions", M.nimages + " images",
  M.mapped + " mapped", D.f.length + " findings"].filter(Boolean).join(" · ");
$("symnote").textContent = M.symnote + " Notes: " + (M.notes.join(" | ") || "none");
$("foot").textContent = "Made by " + M.generator + " (" + M.command + "). Self-contained: nothing is fetched.";
// Regions: exact BigInt starts/ends for search, a layout in "units" for drawing.
const R = D.r, n = R.length, S = new Array(n), E = new Array(n);
for (let i = 0; i < n; i++) { S[i] = BigInt("0x" + R[i][0]); E[i] = BigInt("0x" + R[i][1]); }
const U0 = new Float64Array(n), UW = new Float64Array(n), gaps = [];
let u = 0;
const GAPW = 3;
for (let i = 0; i < n; i++) {
  if (i > 0 && S[i] > E[i - 1]) { gaps.push([u, E[i - 1], S[i]]); u += GAPW; }
  else if (i > 0 && S[i] < E[i - 1]) { /* nested/overlapping rows share the strip */ }
  const sz = Number(E[i] - S[i]);
  const w = Math.max(1, Math.log2(Math.max(1, sz / M.page)) + 1);
  U0[i] = u; UW[i] = w; u += w;
}
const TOTAL = Math.max(u, 1);
let v0 = 0, v1 = TOTAL, sel = -1, mark = null;
const cv = $("strip"), cx = cv.getContext("2d");
const css = (k) => getComputedStyle(document.documentElement).getPropertyValue(k).trim();
let COL = [];
const colours = () => { COL = CATS.map((_, k) => css("--c" + k)); };
colours();
const hex = (b) => "0x" + b.toString(16);
function fmtSize(b) {
  let x = Number(b); const u = ["B", "K", "M", "G", "T", "P", "E"]; let k = 0;
  while (x >= 1024 && k < 6) { x /= 1024; k++; }
  return (k ? x.toFixed(x < 10 ? 1 : 0) : x) + u[k];
}
// Legend (colour and name; RWX / findings / gaps).
for (let k = 0; k < CATS.length; k++) {
  if (k === 10 && !D.d.length) continue;
  const li = document.createElement("li"), i = document.createElement("i");
  i.style.background = COL[k]; li.append(i, CATS[k]); $("legend").append(li);
}
[["bad", "RWX / audit finding (red outline, marker above)"], ["gap", "collapsed gap (size shown)"]].forEach(([c, t]) => {
  const li = document.createElement("li"), i = document.createElement("i");
  i.style.background = css("--" + c); li.append(i, t); $("legend").append(li);
});
// Unit <-> address inside region i.
const uOf = (i, a) => U0[i] + UW[i] * Number(a - S[i]) / Math.max(1, Number(E[i] - S[i]));
function regionAtU(x) {
  let lo = 0, hi = n - 1, best = -1;
  while (lo <= hi) { const m = (lo + hi) >> 1; if (U0[m] <= x) { best = m; lo = m + 1; } else hi = m - 1; }
  return best >= 0 && x < U0[best] + UW[best] ? best : -1;
}
function addrAtU(i, x) {
  const f = (x - U0[i]) / UW[i];
  return S[i] + BigInt(Math.floor(f * Number(E[i] - S[i])));
}
const LANE = { find: [4, 14], main: [22, 76], r: [80, 88], w: [90, 98], x: [100, 108], diff: [112, 122], axis: [126, 150] };
function draw() {
  const W = cv.clientWidth, H = 150, dpr = window.devicePixelRatio || 1;
  if (cv.width !== Math.round(W * dpr)) cv.width = Math.round(W * dpr);
  cv.height = Math.round(H * dpr); cx.setTransform(dpr, 0, 0, dpr, 0, 0);
  cx.clearRect(0, 0, W, H);
  const sc = W / (v1 - v0), X = (uu) => (uu - v0) * sc;
  const fg = css("--fg"), bad = css("--bad"), mute = css("--mute");
  cx.font = "11px ui-monospace,monospace"; cx.textBaseline = "middle";
  const first = Math.max(0, regionAtU(v0) >= 0 ? regionAtU(v0) : lowerU(v0));
  let lastLabel = -1e9;
  for (let i = first; i < n && U0[i] <= v1; i++) {
    const r = R[i], x0 = X(U0[i]), x1 = X(U0[i] + UW[i]), w = Math.max(1, x1 - x0);
    cx.fillStyle = COL[r[2]]; cx.fillRect(x0, LANE.main[0], w, LANE.main[1] - LANE.main[0]);
    if (r[2] === 10) { cx.strokeStyle = mute; cx.setLineDash([3, 2]); cx.strokeRect(x0 + .5, LANE.main[0] + .5, w - 1, 53); cx.setLineDash([]); }
    [[1, "r"], [2, "w"], [4, "x"]].forEach(([b, k]) => {
      if (r[3] & b) { cx.fillStyle = b === 2 ? COL[4] : b === 4 ? COL[0] : COL[8]; cx.fillRect(x0, LANE[k][0], w, 8); }
    });
    const rwx = (r[3] & 6) === 6;
    if (rwx || r[8] >= 1) {
      cx.fillStyle = r[8] >= 2 || rwx ? bad : COL[4];
      const mw = Math.max(4, w); cx.fillRect(x0 + w / 2 - mw / 2, LANE.find[0], mw, 10);
      cx.strokeStyle = bad; cx.lineWidth = 2; cx.strokeRect(x0, LANE.main[0] - 1, Math.max(2, w), 56); cx.lineWidth = 1;
    }
    if (w > 70) {
      cx.fillStyle = r[2] === 0 || r[2] === 2 || r[2] === 5 ? "#fff" : "#111";
      const im = r[6] >= 0 ? D.i[r[6]].p.split("/").pop() + " " : "";
      const lab = (im + (r[7] || r[9] || "")).slice(0, Math.floor((w - 6) / 6.6));
      cx.save(); cx.beginPath(); cx.rect(x0, LANE.main[0], w, 54); cx.clip();
      cx.fillText(lab, x0 + 3, 36); cx.fillText(prot(r[3]) + " " + fmtSize(E[i] - S[i]), x0 + 3, 52); cx.restore();
    }
    if (x0 - lastLabel > 110 && x0 >= 0) {
      cx.fillStyle = fg; cx.fillRect(x0, LANE.axis[0], 1, 5); cx.fillText(r[0], x0 + 2, 138); lastLabel = x0;
    }
    // Single pages once they are wide enough.
    const pages = Number(E[i] - S[i]) / M.page;
    if (pages > 1 && w / pages > 8) {
      cx.fillStyle = css("--bg");
      const p0 = Math.max(0, Math.floor((0 - x0) / (w / pages))), p1 = Math.min(pages, Math.ceil((W - x0) / (w / pages)));
      for (let p = p0; p < p1 && p < p0 + 2000; p++) cx.fillRect(x0 + p * w / pages, LANE.main[0], 1, 54);
    }
  }
  for (const c of D.d) {      // diff lane
    const a = BigInt("0x" + c[1]), b = BigInt("0x" + c[2]);
    const i = lowerS(a); if (i < 0) continue;
    const x0 = X(uOf(i, a)), j = Math.max(i, lowerS(b - 1n)), x1 = X(uOf(j, b < E[j] ? b : E[j]));
    cx.fillStyle = c[0] === "added" ? COL[2] : c[0] === "removed" ? bad : COL[4];
    cx.fillRect(x0, LANE.diff[0], Math.max(4, x1 - x0), 10);
  }
  cx.fillStyle = mute;
  for (const [gu, a, b] of gaps) {
    if (gu + GAPW < v0 || gu > v1) continue;
    const x0 = X(gu), w = GAPW * sc;
    cx.fillStyle = css("--bg"); cx.fillRect(x0, LANE.main[0] - 2, w, 90);
    cx.strokeStyle = css("--gap"); cx.beginPath();
    for (let y = LANE.main[0]; y < LANE.x[1]; y += 6) { cx.moveTo(x0 + w / 2 - 2, y); cx.lineTo(x0 + w / 2 + 2, y + 3); cx.lineTo(x0 + w / 2 - 2, y + 6); }
    cx.stroke();
    if (w > 34) { cx.fillStyle = mute; cx.textAlign = "center"; cx.fillText(fmtSize(b - a), x0 + w / 2, LANE.diff[1] - 4); cx.textAlign = "left"; }
  }
  ["r", "w", "x"].forEach((k) => { cx.fillStyle = css("--panel"); cx.fillRect(0, LANE[k][0] - 1, 10, 10); cx.fillStyle = fg; cx.fillText(k, 2, (LANE[k][0] + LANE[k][1]) / 2); });
  if (sel >= 0) { cx.strokeStyle = fg; cx.lineWidth = 2; cx.strokeRect(X(U0[sel]), LANE.main[0] - 3, Math.max(3, UW[sel] * sc), 60); cx.lineWidth = 1; }
  if (mark) { const x = X(uOf(mark[0], mark[1])); cx.fillStyle = fg; cx.fillRect(x - 1, 0, 2, LANE.x[1]); }
  $("status").textContent = "view " + describeU(v0) + " … " + describeU(v1) + "   (zoom " + (TOTAL / (v1 - v0)).toExponential(1) + "x; wheel: zoom, drag: pan, click: details)";
}
function lowerU(x) { let lo = 0, hi = n - 1, b = 0; while (lo <= hi) { const m = (lo + hi) >> 1; if (U0[m] <= x) { b = m; lo = m + 1; } else hi = m - 1; } return b; }
function lowerS(a) { let lo = 0, hi = n - 1, b = -1; while (lo <= hi) { const m = (lo + hi) >> 1; if (S[m] <= a) { b = m; lo = m + 1; } else hi = m - 1; } return b; }
function describeU(x) { if (x >= TOTAL) return hex(E[n - 1]); const i = regionAtU(x); return i >= 0 ? hex(addrAtU(i, x)) : "a gap near " + hex(S[Math.min(n - 1, lowerU(x) + 1)]); }
const prot = (p) => (p & 1 ? "r" : "-") + (p & 2 ? "w" : "-") + (p & 4 ? "x" : "-");
function zoom(f, at) { const c = at === undefined ? (v0 + v1) / 2 : at, w = Math.max((v1 - v0) * f, 1e-9); v0 = c - (c - v0) * f; v1 = v0 + w; clamp(); draw(); }
function clamp() { const w = Math.min(v1 - v0, TOTAL); if (v0 < 0) v0 = 0; if (v0 + w > TOTAL) v0 = TOTAL - w; v1 = v0 + w; }
function focus(i, a) {
  let c = U0[i] + UW[i] / 2, w = UW[i] * 1.6;
  if (a !== undefined) { c = uOf(i, a); const pg = UW[i] * M.page / Math.max(1, Number(E[i] - S[i])); w = Math.max(pg * 24, Math.min(w, UW[i] * 1.6)); }
  v0 = c - w / 2; v1 = c + w / 2; clamp(); draw();
}
const xToU = (ev) => v0 + (ev.offsetX / cv.clientWidth) * (v1 - v0);
cv.addEventListener("wheel", (ev) => { ev.preventDefault(); zoom(ev.deltaY > 0 ? 1.25 : 0.8, xToU(ev)); }, { passive: false });
let drag = null;
cv.addEventListener("mousedown", (ev) => { drag = [ev.clientX, v0, v1, false]; });
window.addEventListener("mouseup", () => { setTimeout(() => { drag = null; }, 0); });
window.addEventListener("mousemove", (ev) => {
  if (!drag) return;
  const dx = ev.clientX - drag[0]; if (Math.abs(dx) > 2) drag[3] = true;
  const d = dx / cv.clientWidth * (drag[2] - drag[1]); v0 = drag[1] - d; v1 = drag[2] - d; clamp(); draw();
});
cv.addEventListener("mousemove", (ev) => {
  const i = regionAtU(xToU(ev)), tip = $("tip");
  if (i < 0 || drag) { tip.hidden = true; return; }
  tip.textContent = R[i][5] + "\n" + hex(addrAtU(i, xToU(ev)));
  tip.hidden = false; tip.style.left = Math.min(ev.offsetX + 12, cv.clientWidth - tip.offsetWidth - 4) + "px"; tip.style.top = "154px";
});
cv.addEventListener("mouseleave", () => { $("tip").hidden = true; });
cv.addEventListener("click", (ev) => {
  if (drag && drag[3]) return;
  const x = xToU(ev), i = regionAtU(x); if (i < 0) return;
  sel = i; mark = [i, addrAtU(i, x)]; $("detailtext").textContent = explain(i, mark[1]); draw();
});
cv.addEventListener("dblclick", (ev) => { const i = regionAtU(xToU(ev)); if (i >= 0) focus(i); });
$("fit").onclick = () => { v0 = 0; v1 = TOTAL; draw(); };
$("zin").onclick = () => zoom(0.5); $("zout").onclick = () => zoom(2);
window.addEventListener("keydown", (ev) => {
  if (ev.target === $("q")) return;
  if (ev.key === "+" || ev.key === "=") zoom(0.5); else if (ev.key === "-") zoom(2);
  else if (ev.key === "0") { v0 = 0; v1 = TOTAL; draw(); }
  else if (ev.key === "ArrowLeft" || ev.key === "ArrowRight") { const d = (v1 - v0) * 0.2 * (ev.key === "ArrowLeft" ? -1 : 1); v0 += d; v1 += d; clamp(); draw(); }
});
window.addEventListener("resize", draw);
matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => { colours(); draw(); });
// What an address is: region row, image, segment, section, symbol.
function explain(i, a) {
  const r = R[i], out = [r[5]];
  if (a !== undefined) out.push("address      " + hex(a) + "  (region +" + hex(a - S[i]) + ")");
  const fs = D.f.filter((f) => f[2] === r[0]);
  for (const f of fs) out.push("FINDING      " + f[4]);
  if (r[2] === 10) out.push("(removed since the first target: " + r[9] + ")");
  if (r[6] < 0) { out.push("image        none"); return out.join("\n"); }
  const im = D.i[r[6]], load = BigInt("0x" + im.l);
  out.push("image        " + im.p + (im.c ? "  (in the shared cache)" : ""), "uuid         " + (im.u || "-"),
           "load address " + hex(load));
  if (a === undefined) a = S[i];
  for (const g of im.g) {
    const gs = BigInt("0x" + g[1]);
    if (a < gs || a >= gs + BigInt(g[2])) continue;
    out.push("segment      " + g[0] + "  " + hex(gs) + "-" + hex(gs + BigInt(g[2])) + "  " + prot(g[3]) + "/" + prot(g[4]));
    const off = Number(a - gs);
    for (const c of g[5]) if (off >= c[1] && off < c[1] + c[2]) out.push("section      " + c[0] + "  +" + (off - c[1]).toString(16));
    break;
  }
  out.push("symbol       " + symbolAt(im, a - load));
  return out.join("\n");
}
function symbolAt(im, off) {
  if (!im.s) return "(names not embedded for this image; see the limit below)";
  const a = im.s[0], o = Number(off); let lo = 0, hi = a.length - 1, b = -1;
  while (lo <= hi) { const m = (lo + hi) >> 1; if (a[m] <= o) { b = m; lo = m + 1; } else hi = m - 1; }
  return b < 0 ? "(none before this address)" : im.s[1][b] + " + 0x" + (o - a[b]).toString(16);
}
function search(q) {
  q = q.trim(); let a = null;
  const m = /^(.+)\+\s*(0x[0-9a-f]+|[0-9]+)$/i.exec(q);
  if (/^(0x)?[0-9a-f]+$/i.test(q)) a = BigInt(q.toLowerCase().startsWith("0x") ? q : "0x" + q);
  else if (m) {
    const name = m[1].trim(), off = BigInt(m[2]);
    const im = D.i.find((x) => x.p === name) || D.i.find((x) => x.p.split("/").pop() === name) || D.i.find((x) => x.p.includes(name));
    if (!im) return "no image named " + name;
    a = BigInt("0x" + im.l) + off;
  } else {
    for (const im of D.i) if (im.s) { const k = im.s[1].indexOf(q); if (k >= 0) { a = BigInt("0x" + im.l) + BigInt(im.s[0][k]); break; } }
    if (a === null) return "not an address, IMAGE+0xOFF or embedded symbol: " + q;
  }
  let i = lowerS(a);
  while (i >= 0 && !(a < E[i])) i--;          // nested rows: the innermost one holding a
  if (i < 0 || a >= E[i] || a < S[i]) {
    const j = lowerS(a);
    return hex(a) + " is not mapped" + (j >= 0 ? "\nbefore: " + R[j][5] : "") + (j + 1 < n ? "\nafter:  " + R[j + 1][5] : "");
  }
  sel = i; mark = [i, a]; focus(i, a); $("detailtext").textContent = explain(i, a);
  return "found " + hex(a) + "\n" + explain(i, a);
}
$("find").addEventListener("submit", (ev) => { ev.preventDefault(); $("resulttext").textContent = search($("q").value); });
// Text: findings, changes, the region table (chunks the browser lays out lazily).
$("fh").textContent = "Audit findings (" + D.f.length + ")";
$("findings").textContent = D.f.length ? D.f.map((f) => f[4]).join("\n") : "no findings";
if (D.dl) { $("diffbox").hidden = false; $("changes").textContent = D.dl.join("\n"); }
const T = $("table"), CH = 1000;
for (let k = 0; k < n; k += CH) {
  const pre = document.createElement("pre");
  pre.textContent = R.slice(k, k + CH).map((r) => r[5]).join("\n");
  pre.style.containIntrinsicSize = "auto " + Math.round(Math.min(CH, n - k) * 16.2) + "px";
  T.append(pre);
}
draw();
const h = decodeURIComponent(location.hash.slice(1));
if (h.startsWith("q=")) { $("q").value = h.slice(2); $("resulttext").textContent = search(h.slice(2)); }
requestAnimationFrame(() => { window.symmapReady = performance.now(); document.body.dataset.ready = String(Math.round(window.symmapReady)); });
})();
