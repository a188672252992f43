// The review page's behaviour: tables that sort, filter and paginate, a lazy
// gallery, and a viewer linking each overlay to its detection rows. Data comes
// from data.js (window.AURORA_OBSERVATIONS, written by marsaurora.review); every
// value from it is set as text, never parsed as HTML.
"use strict";

const OBSERVATIONS = window.AURORA_OBSERVATIONS || [];
const FIELDS = window.AURORA_FIELDS || [];
const IMAGE_SETS = window.AURORA_IMAGE_SETS || {};
const ROWS_PER_PAGE = 100;
const THUMBS_PER_PAGE = 48;
const NUMBER_DIGITS = { ls_deg: 1, lat_deg: 1, lon_deg: 1, sza_deg: 1, local_time_h: 2,
                        peak_r: 1, area_km2: 0, confidence: 2 };

const detections = [];
OBSERVATIONS.forEach((observation, index) => {
  for (const values of observation.detections) {
    const row = { observation: index, name: observation.name,
                  image_set: IMAGE_SETS[observation.name] ?? "" };
    FIELDS.forEach((field, i) => { row[field] = values[i]; });
    detections.push(row);
  }
});

function element(tag, text, className) {
  const made = document.createElement(tag);
  if (text !== undefined && text !== null) made.textContent = String(text);
  if (className) made.className = className;
  return made;
}

function formatted(key, value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "number" && key in NUMBER_DIGITS) {
    return value.toLocaleString("en-US", { minimumFractionDigits: NUMBER_DIGITS[key],
                                           maximumFractionDigits: NUMBER_DIGITS[key] });
  }
  return String(value);
}

// A pager under a table or gallery: previous / next and where we are.
function renderPager(container, page, total, perPage, goTo) {
  container.replaceChildren();
  const pages = Math.max(1, Math.ceil(total / perPage));
  if (pages === 1) return;
  const previous = element("button", "previous");
  previous.type = "button";
  previous.disabled = page === 0;
  previous.addEventListener("click", () => goTo(page - 1));
  const next = element("button", "next");
  next.type = "button";
  next.disabled = page >= pages - 1;
  next.addEventListener("click", () => goTo(page + 1));
  const first = page * perPage + 1;
  const last = Math.min(total, (page + 1) * perPage);
  container.append(previous, element("span", `${first}-${last} of ${total}`), next);
}

function viewButton(observationIndex) {
  const button = element("button", "overlay");
  button.type = "button";
  button.className = "view";
  button.addEventListener("click", () => openViewer(observationIndex));
  return button;
}

// ---- detections table ----
const table = { key: "peak_r", descending: true, page: 0, highlight: null };

function filteredDetections() {
  const text = document.getElementById("filter-text").value.trim().toLowerCase();
  const decided = document.getElementById("filter-decided").value;
  const minimum = parseFloat(document.getElementById("filter-peak").value);
  return detections.filter((row) =>
    (!text || row.name.toLowerCase().includes(text)
     || row.image_set.toLowerCase().includes(text))
    && (!decided || row.decided_by === decided)
    && (Number.isNaN(minimum) || (row.peak_r ?? -Infinity) >= minimum));
}

function compare(a, b) {
  const x = a[table.key];
  const y = b[table.key];
  if (x === y) return 0;
  if (x === null || x === undefined) return 1;
  if (y === null || y === undefined) return -1;
  const order = x < y ? -1 : 1;
  return table.descending ? -order : order;
}

function renderDetections() {
  const rows = filteredDetections().sort(compare);
  const pages = Math.max(1, Math.ceil(rows.length / ROWS_PER_PAGE));
  table.page = Math.min(table.page, pages - 1);
  const body = document.querySelector("#detections-table tbody");
  body.replaceChildren();
  for (const row of rows.slice(table.page * ROWS_PER_PAGE, (table.page + 1) * ROWS_PER_PAGE)) {
    const line = document.createElement("tr");
    line.dataset.observation = String(row.observation);
    if (row.observation === table.highlight) line.className = "highlight";
    line.append(element("td", row.name), element("td", row.image_set));
    for (const key of FIELDS.filter((field) => field !== "significance")) {
      const numeric = typeof row[key] === "number";
      line.append(element("td", formatted(key, row[key]), numeric ? "number" : ""));
    }
    const cell = element("td");
    if (OBSERVATIONS[row.observation].overlay) cell.append(viewButton(row.observation));
    line.append(cell);
    body.append(line);
  }
  document.getElementById("detections-count").textContent =
    `(${rows.length} of ${detections.length})`;
  document.querySelectorAll("#detections-table th[data-key]").forEach((header) => {
    if (header.dataset.key === table.key) {
      header.setAttribute("aria-sort", table.descending ? "descending" : "ascending");
    } else {
      header.removeAttribute("aria-sort");
    }
  });
  renderPager(document.getElementById("detections-pager"), table.page, rows.length,
              ROWS_PER_PAGE, (page) => { table.page = page; renderDetections(); });
}

function showRowsOf(observationIndex) {
  document.getElementById("filter-text").value = OBSERVATIONS[observationIndex].name;
  document.getElementById("filter-decided").value = "";
  document.getElementById("filter-peak").value = "";
  table.page = 0;
  table.highlight = observationIndex;
  renderDetections();
  document.getElementById("detections").scrollIntoView();
}

// ---- gallery ----
const gallery = { page: 0 };

function galleryItems() {
  const everything = document.getElementById("gallery-all").checked;
  const items = [];
  OBSERVATIONS.forEach((observation, index) => {
    if (observation.overlay || (everything && observation.heatmap)) items.push(index);
  });
  return items;
}

function renderGallery() {
  const items = galleryItems();
  const pages = Math.max(1, Math.ceil(items.length / THUMBS_PER_PAGE));
  gallery.page = Math.min(gallery.page, pages - 1);
  const thumbs = document.getElementById("thumbs");
  thumbs.replaceChildren();
  for (const index of items.slice(gallery.page * THUMBS_PER_PAGE,
                                  (gallery.page + 1) * THUMBS_PER_PAGE)) {
    const observation = OBSERVATIONS[index];
    const figure = element("figure", null, "thumb");
    figure.id = `observation-${index}`;
    const image = document.createElement("img");
    image.loading = "lazy";
    image.src = observation.overlay || observation.heatmap;
    image.alt = observation.name;
    image.addEventListener("click", () => openViewer(index));
    const caption = element("figcaption", `${observation.name} (${observation.detections.length}`
                            + ` detection${observation.detections.length === 1 ? "" : "s"})`);
    figure.append(image, caption);
    thumbs.append(figure);
  }
  const withImages = OBSERVATIONS.filter((o) => o.heatmap || o.overlay).length;
  document.getElementById("gallery-count").textContent = withImages
    ? `(${items.length} shown of ${OBSERVATIONS.length} observations)`
    : "(no images: run with `aurora run --png` to write them)";
  renderPager(document.getElementById("gallery-pager"), gallery.page, items.length,
              THUMBS_PER_PAGE, (page) => { gallery.page = page; renderGallery(); });
}

// ---- viewer: an overlay, and the way back to its rows ----
let viewing = null;

function openViewer(index) {
  const observation = OBSERVATIONS[index];
  viewing = index;
  document.getElementById("viewer-title").textContent = observation.name;
  const image = document.getElementById("viewer-image");
  image.src = observation.overlay || observation.heatmap || "";
  image.alt = `overlay of ${observation.name}`;
  const count = observation.detections.length;
  document.getElementById("viewer-caption").textContent =
    `${observation.status}, ${count} detection${count === 1 ? "" : "s"}`
    + (observation.start_utc ? `, started ${observation.start_utc} UTC` : "");
  document.getElementById("viewer-rows").disabled = count === 0;
  document.getElementById("viewer").showModal();
}

// ---- simple paginated lists: needs a look, errors ----
function renderList(tableId, pagerId, countId, rows, makeCells) {
  const state = { page: 0 };
  const draw = () => {
    const body = document.querySelector(`#${tableId} tbody`);
    body.replaceChildren();
    for (const row of rows.slice(state.page * ROWS_PER_PAGE, (state.page + 1) * ROWS_PER_PAGE)) {
      const line = document.createElement("tr");
      line.append(...makeCells(row));
      body.append(line);
    }
    document.getElementById(countId).textContent = `(${rows.length})`;
    renderPager(document.getElementById(pagerId), state.page, rows.length, ROWS_PER_PAGE,
                (page) => { state.page = page; draw(); });
  };
  draw();
}

function lookRows() {
  const rows = [];
  OBSERVATIONS.forEach((observation, index) => {
    for (const reason of observation.look) rows.push({ index, reason });
  });
  return rows;
}

function errorRows() {
  const rows = [];
  OBSERVATIONS.forEach((observation) => {
    if (observation.error) rows.push(observation);
  });
  return rows;
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("#detections-table th[data-key]").forEach((header) => {
    header.addEventListener("click", () => {
      const key = header.dataset.key;
      table.descending = table.key === key ? !table.descending : false;
      table.key = key;
      table.page = 0;
      renderDetections();
    });
  });
  for (const id of ["filter-text", "filter-decided", "filter-peak"]) {
    for (const happened of ["input", "change"]) {
      document.getElementById(id).addEventListener(happened, () => {
        table.page = 0;
        table.highlight = null;
        renderDetections();
      });
    }
  }
  document.getElementById("filter-clear").addEventListener("click", () => {
    document.getElementById("filters").reset();
    table.highlight = null;
    renderDetections();
  });
  document.getElementById("gallery-all").addEventListener("change", () => {
    gallery.page = 0;
    renderGallery();
  });
  document.getElementById("viewer-rows").addEventListener("click", () => {
    document.getElementById("viewer").close();
    showRowsOf(viewing);
  });
  renderDetections();
  renderGallery();
  renderList("look-table", "look-pager", "look-count", lookRows(), ({ index, reason }) => {
    const view = element("td");
    if (OBSERVATIONS[index].overlay || OBSERVATIONS[index].heatmap) {
      view.append(viewButton(index));
    }
    return [element("td", OBSERVATIONS[index].name), element("td", reason), view];
  });
  renderList("errors-table", "errors-pager", "errors-count", errorRows(), (observation) => [
    element("td", observation.name), element("td", observation.stage),
    element("td", observation.error[0], "status-error"), element("td", observation.error[1]),
  ]);
});
