// certinbox's read-only inventory page: plain DOM, no framework, nothing fetched from outside
// the daemon. Every text from the daemon goes through textContent, never innerHTML.
"use strict";

const $ = (sel) => document.querySelector(sel);
const PAGE = 200;
let listState = { after: null, filters: {} };
let eventsTimer = null;
let lastSeq = 0;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "href" || k === "id") node.setAttribute(k, v);
    else node.dataset[k] = v;
  }
  for (const c of children) {
    node.append(c instanceof Node ? c : document.createTextNode(c == null ? "-" : String(c)));
  }
  return node;
}

async function api(path) {
  const res = await fetch(path, { headers: { Accept: "application/json" } });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error((body.error && body.error.message) || res.status + " " + res.statusText);
  return body;
}

function showError(err) {
  const p = $("#error");
  p.hidden = !err;
  p.textContent = err ? String(err.message || err) : "";
}

function statusCell(status) {
  return el("td", { class: "status status-" + status }, (status || "-").replace("_", " "));
}

function textList(items) {
  return Array.isArray(items) && items.length ? items.join(", ") : "-";
}


function entryLink(row) {
  return el("a", { href: "#/entry/" + encodeURIComponent(row.id) }, row.name);
}

function entryRow(row) {
  const key = row.has_private_key ? "yes" : "no";
  return el("tr", { entry: row.id },
    el("td", {}, entryLink(row)), el("td", {}, row.group), el("td", {}, row.kind),
    statusCell(row.status), el("td", {}, row.not_after), el("td", {}, row.days_left),
    el("td", {}, key), el("td", {}, textList(row.findings)), el("td", {}, row.binding_count || 0));
}

async function loadSummary() {
  const s = await api("/api/v1/summary");
  for (const status of ["valid", "expiring_soon", "expired", "pre_activation"]) {
    $("#count-" + status).textContent = (s.counts && s.counts[status]) || 0;
  }
  $("#daemon").textContent = "certinboxd " + (s.version || "") + " · seq " + (s.last_seq || 0);
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
  return q.toString();
}

async function loadEntries(reset) {
  if (reset) {
    listState.after = null;
    $("#entries tbody").replaceChildren();
  }
  const page = await api("/api/v1/entries?" +
    query({ ...listState.filters, sort: "expiry", limit: PAGE, after: listState.after }));
  const body = $("#entries tbody");
  for (const row of page.entries || []) body.append(entryRow(row));
  listState.after = page.next || null;
  $("#more").hidden = !listState.after;
  $("#list-note").textContent = body.children.length ? body.children.length + " shown" : "no entries match";
}

function readFilters() {
  const form = new FormData($("#filters"));
  listState.filters = {};
  for (const k of ["status", "group", "label", "text"]) listState.filters[k] = (form.get(k) || "").trim();
  for (const t of document.querySelectorAll(".tile")) {
    t.classList.toggle("active", t.dataset.status === listState.filters.status);
  }
}

function field(dl, name, value) {
  dl.append(el("dt", {}, name), el("dd", {}, value));
}

function table(headers, rows) {
  const t = el("table", {}, el("thead", {}, el("tr", {}, ...headers.map((h) => el("th", {}, h)))));
  const body = el("tbody");
  for (const r of rows) body.append(el("tr", {}, ...r.map((c) => (c instanceof Node ? c : el("td", {}, c)))));
  t.append(body);
  return t;
}

function eventRows(events) {
  return events.map((e) => {
    const cert = e.certificate || {};
    const who = cert.name ? (cert.group ? cert.group + "/" : "") + cert.name : e.entry || "-";
    const detail = e.reason || e.resource || (e.changed ? textList(e.changed) : "") || "";
    return [e.seq, e.time, e.type, who, detail];
  });
}

async function showEntry(id) {
  const reply = await api("/api/v1/entries/" + encodeURIComponent(id));
  const e = reply.entry;
  const view = $("#entry-view");
  const dl = el("dl", { class: "fields" });
  for (const [k, label] of [["group", "Group"], ["kind", "Kind"], ["status", "Status"],
    ["subject", "Subject"], ["issuer", "Issuer"], ["serial", "Serial"], ["not_before", "Not before"],
    ["not_after", "Not after"], ["days_left", "Days left"], ["fingerprint_sha256", "SHA-256"],
    ["key_algorithm", "Key"], ["description", "Description"]]) {
    field(dl, label, e[k]);
  }
  field(dl, "Private key", e.has_private_key ? "stored (encrypted)" : "none");
  field(dl, "SANs", textList(e.sans));
  field(dl, "Labels", textList(e.labels));
  field(dl, "Findings", textList(e.findings));
  field(dl, "Chain", textList(e.chain));
  const meta = e.metadata && Object.keys(e.metadata).length ? JSON.stringify(e.metadata) : "-";
  field(dl, "Metadata", meta);
  const versions = (e.versions || []).map((v) => [v.version + (v.current ? " (current)" : ""),
    v.status, v.not_after, v.fingerprint_sha256, v.imported_at]);
  const bindings = (Array.isArray(e.bindings) ? e.bindings : []).map((b) => [b.resource,
    b.plugin, b.pushed_version, b.last_push_result, b.last_push_at, b.last_push_message]);
  view.replaceChildren(
    el("p", {}, el("a", { href: "#/" }, "← all certificates")),
    el("h1", { id: "entry-title" }, (e.group ? e.group + "/" : "") + e.name),
    dl,
    el("h2", {}, "Versions"),
    table(["Version", "Status", "Not after", "SHA-256", "Imported"], versions),
    el("h2", {}, "Bindings"),
    table(["Resource", "Plugin", "Version pushed", "Last push", "At", "Message"], bindings),
    el("h2", {}, "Events"),
    table(["Seq", "Time", "Type", "Entry", "Detail"], eventRows(reply.events || [])));
}

async function pollEvents() {
  const page = await api("/api/v1/events?" + query({ since: lastSeq, limit: 500 }));
  const events = page.events || [];
  if (events.length) {
    const body = $("#events tbody");
    for (const r of eventRows(events).reverse()) {
      body.prepend(el("tr", {}, ...r.map((c) => el("td", {}, c))));
    }
    lastSeq = events[events.length - 1].seq;
  }
  if (page.scanned_to) lastSeq = Math.max(lastSeq, page.scanned_to);
  $("#live").textContent = "live · up to seq " + lastSeq;
}

async function route() {
  clearInterval(eventsTimer);
  eventsTimer = null;
  showError(null);
  const hash = location.hash || "#/";
  $("#list-view").hidden = true;
  $("#entry-view").hidden = true;
  $("#events-view").hidden = true;
  try {
    if (hash.startsWith("#/entry/")) {
      $("#entry-view").hidden = false;
      await showEntry(decodeURIComponent(hash.slice("#/entry/".length)));
    } else if (hash === "#/events") {
      $("#events-view").hidden = false;
      if (!lastSeq) {
        const s = await api("/api/v1/summary");
        lastSeq = Math.max(0, (s.last_seq || 0) - 100);
      }
      await pollEvents();
      eventsTimer = setInterval(() => pollEvents().catch(showError), 2000);
    } else {
      $("#list-view").hidden = false;
      await Promise.all([loadSummary(), loadEntries(true)]);
    }
  } catch (err) {
    showError(err);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("#filters").addEventListener("submit", (ev) => {
    ev.preventDefault();
    readFilters();
    loadEntries(true).catch(showError);
  });
  for (const tile of document.querySelectorAll(".tile")) {
    tile.addEventListener("click", () => {
      const select = $("#filters select[name=status]");
      select.value = select.value === tile.dataset.status ? "" : tile.dataset.status;
      readFilters();
      loadEntries(true).catch(showError);
    });
  }
  $("#more").addEventListener("click", () => loadEntries(false).catch(showError));
  window.addEventListener("hashchange", route);
  route();
});
