// facepair's web app: every action goes through the public /v1 API, with the API key kept in
// sessionStorage and sent in a header (never in a URL); where the service runs without keys
// (FACEPAIR_AUTH=false) there is no key to ask for. Names and file names are set as text.
// It works in the key's collection; with an admin key of every collection, in the one chosen
// (kept beside the key, sent as X-Facepair-Collection). Every list that can grow comes a
// page at a time, and a thumbnail's memory is given back when it leaves the page.

const $ = (selector, root = document) => root.querySelector(selector);
const view = () => $("#view");
const key = () => sessionStorage.getItem("facepair-key") || "";
const chosen = () => sessionStorage.getItem("facepair-collection") || "";
let keyless = false; // the service asks for no key
const ready = () => keyless || Boolean(key());

function headers() {
  const sent = key() ? { Authorization: "Bearer " + key() } : {};
  if (chosen()) sent["X-Facepair-Collection"] = chosen();
  return sent;
}

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (value !== false && value !== null && value !== undefined) node.setAttribute(name, value);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

function say(text, ok = true) {
  const status = $("#status");
  status.textContent = text;
  status.className = ok ? "ok" : "error";
}

class ApiError extends Error {
  constructor(body, status) {
    super(body.detail || `HTTP ${status}`);
    this.code = body.code;
    this.status = status;
  }
}

async function api(path, { method = "GET", json, form } = {}) {
  const sent = headers();
  let body;
  if (json !== undefined) { sent["Content-Type"] = "application/json"; body = JSON.stringify(json); }
  if (form !== undefined) body = form;
  const response = await fetch(path, { method, headers: sent, body });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(data, response.status);
  return data;
}

async function imageUrl(path) {
  const response = await fetch(path, { headers: headers() });
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return URL.createObjectURL(await response.blob());
}

// an image's object URL lives while the image is on the page: when it leaves (another view, another
// page of a list), the URL is revoked and the browser frees the picture
const release = (node) => {
  for (const img of node.tagName === "IMG" ? [node] : node.querySelectorAll("img[src^='blob:']")) {
    if (img.src.startsWith("blob:") && !img.isConnected) URL.revokeObjectURL(img.src);
  }
};
new MutationObserver((changes) => {
  for (const change of changes) for (const node of change.removedNodes) if (node.nodeType === 1) release(node);
}).observe(document.body, { childList: true, subtree: true });

// -- the collection -----------------------------------------------------------------------

async function showCollection() {
  const shown = $("#collection"), choose = $("#choose");
  shown.textContent = "";
  choose.hidden = true;
  if (!ready()) return;
  let current;
  try { current = await api("/v1/collection"); } catch (e) { say(e.message, false); return; }
  if (!(current.every_collection && current.scope === "admin")) {
    shown.textContent = `Collection: ${current.name}`;
    return;
  }
  const { collections } = await api("/v1/collections");
  const select = $("#collections");
  select.replaceChildren(...collections.map((c) => el("option", { value: c.name, text: `${c.name} (${c.people} people)`, selected: c.name === current.name })));
  choose.hidden = false;
}

$("#collections").addEventListener("change", (event) => {
  sessionStorage.setItem("facepair-collection", event.target.value);
  say(`Working in the collection ${event.target.value}.`);
  showCollection();
  route();
  refreshWaiting();
});

function picture(path, alt) {
  const img = el("img", { alt, loading: "lazy" });
  if (path) imageUrl(path).then((url) => {
    img.src = url;
    if (!img.isConnected) release(img); // its view was left while it came
  }).catch(() => { img.alt = alt + " (not available)"; });
  return img;
}

// a list's place: "41–60 of 230", with the previous and next pages
function pager(count, offset, limit, go, label) {
  if (count <= limit && offset === 0) return "";
  const last = Math.min(count, offset + limit);
  return el("nav", { class: "pager", "aria-label": label },
    el("button", { text: "‹ Previous", disabled: offset === 0 ? "" : null, onclick: () => go(Math.max(0, offset - limit)) }),
    el("span", { class: "muted", text: `${offset + 1}–${last} of ${count}` }),
    el("button", { text: "Next ›", disabled: last >= count ? "" : null, onclick: () => go(offset + limit) }));
}

// a list the page already holds, shown `size` items at a time in `holder` (which keeps
// `holder.className` and `id`), with the pager under it
function paged(holder, items, size, render, label, offset = 0) {
  const go = (at) => { wrapper.replaceWith(paged(holder.cloneNode(false), items, size, render, label, at)); };
  holder.replaceChildren(...items.slice(offset, offset + size).map(render));
  const wrapper = el("div", {}, holder, pager(items.length, offset, size, go, label));
  return wrapper;
}

// seconds as a clock: 0:12, 1:02:05
function clock(seconds) {
  const s = Math.floor(seconds), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${r}` : `${m}:${r}`;
}

// a video's face's spans: "0:12–0:31, 1:05–1:20"
const spans = (times) => (times || []).map(([a, b]) => `${clock(a)}–${clock(b)}`).join(", ");

// a video's people (and unknown faces), each with a face chip and when they are seen
function videoPeople(p) {
  return el("ul", { class: "video-people", "aria-label": "Who is in the video, and when" },
    ...p.faces.map((f) => el("li", { "data-face": String(f.id) },
      picture(`/v1/album-faces/${f.id}/chip`, f.person ? f.person.name : "unknown"),
      el("span", { class: "who", text: f.person ? f.person.name : "unknown" }),
      el("span", { class: "muted when", text: spans(f.times) }))));
}

// tagged photos (and videos, as a frame with a mark) with who is named in each;
// `open(photo)`: a click on one opens it (a video without it shows its people below)
function photoGrid(photos, open = null) {
  const grid = el("div", { class: "photos" });
  for (const p of photos) {
    const names = p.faces.map((f) => (f.person ? f.person.name : "unknown")).join(", ") || "no face";
    const file = p.path.split(/[/:]/).pop();
    const video = p.duration !== null && p.duration !== undefined;
    const image = el("span", { class: "thumb" }, picture(`/v1/albums/photos/${p.id}/image`, video ? `${file} (a frame of the video)` : file),
      video ? el("span", { class: "video-mark", text: `▶ video ${clock(p.duration)}` }) : "");
    grid.append(el("figure", { "data-photo": String(p.id), class: video ? "video" : null },
      open ? el("button", { class: "open", "aria-label": `Open ${file}`, onclick: () => open(p) }, image) : image,
      el("figcaption", {}, el("span", { class: "file", text: file }), el("br"), el("span", { class: "who", text: names }),
        video && !open && p.faces.length ? el("details", {}, el("summary", { text: "Who, and when" }), videoPeople(p)) : "")));
  }
  return grid;
}

// A tagged video opened: its frame, and its people each with a face chip and their spans.
function openVideo(p) {
  const file = p.path.split(/[/:]/).pop();
  $("#photo-open").replaceChildren(el("h2", { text: `${file} (video, ${clock(p.duration)})` }),
    el("div", { class: "row" }, el("button", { text: "Close", onclick: () => $("#photo-open").replaceChildren() })),
    el("div", { class: "photo-open", id: "photo-stage" }, picture(`/v1/albums/photos/${p.id}/image`, `${file} (a frame of the video)`)),
    p.faces.length ? videoPeople(p) : el("p", { class: "muted", text: "No face in it." }));
  $("#photo-stage").scrollIntoView({ block: "nearest" });
}

// -- people -----------------------------------------------------------------------------

const PEOPLE_PAGE = 48;

async function peopleView() {
  const [{ people }, alike] = await Promise.all([api("/v1/people"), api("/v1/lookalikes")]);
  const name = el("input", { id: "new-name", placeholder: "Name", required: "", maxlength: "200" });
  const files = el("input", { id: "new-photos", type: "file", accept: "image/*", multiple: "" });
  const add = el("form", { class: "row", onsubmit: async (event) => {
    event.preventDefault();
    try {
      const person = await api("/v1/people", { method: "POST", json: { name: name.value } });
      if (files.files.length) await enrollPhotos(person, [...files.files]);
      else say(`Added ${person.name}.`);
      if (!$("#pick .photo-pick")) route();
    } catch (e) { say(e.message, false); }
  } }, el("label", {}, "New person ", name), el("label", {}, " photos ", files),
     el("button", { class: "primary", type: "submit", text: "Add" }));
  const grid = paged(el("div", { class: "grid", id: "people" }), people, PEOPLE_PAGE, (p) => personCard(p, people), "Pages of people");
  view().replaceChildren(el("h2", { text: "People" }), add, el("div", { id: "pick" }), grid,
    people.length ? "" : el("p", { class: "muted", text: "Nobody yet: add someone with a few photos of them." }),
    lookalikes(alike));
}

// people whose faces are near each other: shown side by side, the two nearest faces; one
// person enrolled twice is merged (into the one with more faces), or they are told apart
function lookalikes({ pairs, margin }) {
  if (!pairs.length) return "";
  const list = el("ul", { id: "lookalikes", class: "pairs" });
  for (const pair of pairs) {
    const [a, b] = pair.people;
    const [keep, other] = a.faces >= b.faces ? [a, b] : [b, a];
    const actions = pair.different
      ? el("span", { class: "muted told", text: "Different people." })
      : el("div", { class: "actions" },
        el("button", { text: "Merge", "aria-label": `Merge ${other.name} into ${keep.name}`, onclick: async () => {
          try { await api(`/v1/people/${keep.id}/merge`, { method: "POST", json: { other: other.id } }); say(`${other.name} merged into ${keep.name}.`); route(); }
          catch (e) { say(e.message, false); }
        } }),
        el("button", { text: "Different people", "aria-label": `${a.name} and ${b.name} are different people`, onclick: async () => {
          try { await api("/v1/lookalikes/different", { method: "POST", json: { people: [a.id, b.id] } }); say(`${a.name} and ${b.name} are different people.`); route(); }
          catch (e) { say(e.message, false); }
        } }));
    list.append(el("li", { class: "pair", "data-pair": `${a.id}-${b.id}` },
      ...pair.people.map((p) => el("figure", {}, picture(`/v1/faces/${p.face_id}/chip`, p.name), el("figcaption", { text: p.name }))),
      el("span", { class: "muted", text: `${a.name} and ${b.name} look alike (${pair.score.toFixed(2)})` }), actions));
  }
  return el("section", {}, el("h3", { text: "People who look alike" }),
    el("p", { class: "muted", text: margin ? `A face is named as one of them only when it is nearer to them than to the other by ${margin}.` : "" }), list);
}

function personCard(p, people) {
  const upload = el("input", { type: "file", accept: "image/*", multiple: "", class: "enroll",
    "aria-label": `Add photos of ${p.name}`,
    onchange: async () => { await enrollPhotos(p, [...upload.files]); if (!$("#pick .photo-pick")) route(); } });
  const rename = el("button", { text: "Rename", onclick: () => {
    const input = el("input", { value: p.name, "aria-label": "New name", maxlength: "200" });
    const form = el("form", { class: "row", onsubmit: async (event) => {
      event.preventDefault();
      try { await api(`/v1/people/${p.id}`, { method: "PATCH", json: { name: input.value } }); say(`Renamed to ${input.value}.`); route(); }
      catch (e) { say(e.message, false); }
    } }, input, el("button", { type: "submit", text: "Save" }));
    card.append(form); input.focus();
  } });
  const merge = el("button", { text: "Merge…", onclick: () => {
    const others = people.filter((o) => o.id !== p.id);
    if (!others.length) { say("There is nobody to merge with.", false); return; }
    const select = el("select", { "aria-label": `Merge into ${p.name}` },
      ...others.map((o) => el("option", { value: String(o.id), text: o.name })));
    const form = el("form", { class: "row", onsubmit: async (event) => {
      event.preventDefault();
      const other = others.find((o) => String(o.id) === select.value);
      try { await api(`/v1/people/${p.id}/merge`, { method: "POST", json: { other: other.id } }); say(`${other.name} merged into ${p.name}.`); route(); }
      catch (e) { say(e.message, false); }
    } }, el("span", { text: "merge in" }), select, el("button", { type: "submit", text: "Merge" }));
    card.append(form); select.focus();
  } });
  const remove = el("button", { class: "danger", text: "Delete", onclick: async () => {
    if (!confirm(`Delete ${p.name} for good? Their faces, photos and embeddings are removed and cannot be brought back.`)) return;
    try { await api(`/v1/people/${p.id}`, { method: "DELETE" }); say(`Deleted ${p.name} for good.`); route(); }
    catch (e) { say(e.message, false); }
  } });
  const card = el("div", { class: "card", "data-name": p.name },
    el("a", { href: `#/person/${p.id}` },
      picture(p.face_id ? `/v1/faces/${p.face_id}/chip` : null, p.name),
      el("div", { class: "name", text: p.name })),
    el("div", { class: "muted count", text: `${p.faces} face${p.faces === 1 ? "" : "s"}` }),
    el("label", { class: "muted" }, "Add photos ", upload),
    el("div", { class: "actions" }, rename, merge, remove));
  return card;
}

async function enrollPhotos(person, files) {
  const form = new FormData();
  for (const f of files) form.append("photos", f);
  const result = await api(`/v1/people/${person.id}/enrollments`, { method: "POST", form });
  say(`${person.name}: ${result.enrolled} of ${files.length} photo(s) enrolled.`);
  for (const [i, row] of result.photos.entries()) {
    if (row.status === "refused" && row.error.code === "several_faces") await pickFace(person, files[i]);
    else if (row.status === "refused") say(`${row.photo}: ${row.error.message}`, false);
  }
}

async function pickFace(person, file) {
  // a photo of several faces: the user clicks theirs
  const form = new FormData(); form.append("photo", file);
  const { faces } = await api("/v1/detect", { method: "POST", form });
  const img = el("img", { alt: file.name, src: URL.createObjectURL(file) });
  const holder = el("div", { class: "photo-pick" }, img);
  const box = el("div", {}, el("p", { text: `${file.name} shows ${faces.length} faces: which one is ${person.name}?` }), holder);
  $("#pick").replaceChildren(box);
  img.addEventListener("load", () => {
    const sx = img.clientWidth / img.naturalWidth, sy = img.clientHeight / img.naturalHeight;
    faces.forEach((f, i) => {
      const [x1, y1, x2, y2] = f.box;
      const button = el("button", { class: "box", "aria-label": `Face ${i + 1}`, "data-face": String(i),
        onclick: async () => {
          const one = new FormData(); one.append("photo", file); one.append("box", f.box.join(","));
          try { await api(`/v1/people/${person.id}/photos`, { method: "POST", form: one }); say(`Enrolled ${person.name} from ${file.name}.`); $("#pick").replaceChildren(); route(); }
          catch (e) { say(e.message, false); }
        } });
      Object.assign(button.style, { left: `${x1 * sx}px`, top: `${y1 * sy}px`,
        width: `${(x2 - x1) * sx}px`, height: `${(y2 - y1) * sy}px` });
      holder.append(button);
    });
  }, { once: true });
}

// "this is …" on a face (`kind`: "album" or "enrolled"): it becomes that person's, a new
// person for a new name, and never the one it was again; `done(answer)` follows
function thisIsForm(face, kind, done, action = "Move") {
  const input = el("input", { list: "people-names", maxlength: "200", required: "", placeholder: "name", class: "this-is-name" });
  const where = kind === "album" ? "album-faces" : "faces";
  return el("form", { class: "row this-is", onsubmit: async (event) => {
    event.preventDefault();
    try { done(await api(`/v1/${where}/${face}/person`, { method: "POST", json: { name: input.value } })); }
    catch (e) { say(e.message, false); }
  } }, el("label", {}, "This is ", input), el("button", { type: "submit", text: action }));
}

// -- a person's page --------------------------------------------------------------------

const FACE_PAGE = 48;

async function personView(id, albumOffset = 0) {
  const [faces, { people }] = await Promise.all([api(`/v1/people/${id}/faces?limit=${FACE_PAGE}&offset=${albumOffset}`), api("/v1/people")]);
  const p = faces.person;
  const names = el("datalist", { id: "people-names" }, ...people.filter((o) => o.id !== p.id).map((o) => el("option", { value: o.name })));
  // "this is …": the face becomes someone else's (a new person for a new name)
  const thisIs = (face, kind) => thisIsForm(face, kind, (r) => {
    say(`That face is ${r.person.name}'s now, and never ${p.name}'s again.`); route();
  });
  const tile = (path, caption, face, kind) => el("div", { class: "face", "data-face": `${kind}:${face}` },
    picture(path, caption), el("div", { text: caption }), thisIs(face, kind),
    el("button", { text: "Not this person", onclick: async () => {
      try { await api(`/v1/people/${id}/not-this`, { method: "POST", json: { face_id: face, kind } }); say(`That face is no longer ${p.name}'s, and never will be.`); route(); }
      catch (e) { say(e.message, false); }
    } }));
  view().replaceChildren(
    el("h2", { text: p.name }), names,
    el("section", { id: "person-photos" }),
    el("p", { class: "muted", text: `${faces.enrolled.length} enrolled faces, ${faces.album_count} album faces named as them, newest first.` }),
    el("h2", { text: "Enrolled faces" }),
    paged(el("div", { class: "faces", id: "enrolled" }), faces.enrolled, FACE_PAGE, (f) => tile(`/v1/faces/${f.id}/chip`, f.source, f.id, "enrolled"), "Pages of their enrolled faces"),
    el("h2", { text: "In albums" }),
    el("div", { class: "faces", id: "album-faces" }, ...faces.album.map((f) => tile(`/v1/album-faces/${f.id}/chip`,
      f.path.split(/[/:]/).pop() + ({ user: " ✓", answer: " ✓", context: " · by the album" }[f.named_by] || ""), f.id, "album"))),
    pager(faces.album_count, albumOffset, FACE_PAGE, (at) => personView(id, at).catch((e) => say(e.message, false)), "Pages of their album faces"));
  await personPhotos(id);
}

const PERSON_PAGE = 24;

async function personPhotos(id, offset = 0) {
  const { count, photos } = await api(`/v1/photos?person=${id}&limit=${PERSON_PAGE}&offset=${offset}`);
  const holder = $("#person-photos");
  if (!holder) return;
  const go = (at) => personPhotos(id, at).catch((e) => say(e.message, false));
  holder.replaceChildren(el("h2", { text: `Photos (${count})` }),
    count ? "" : el("p", { class: "muted", text: "No tagged photo names them yet." }),
    photoGrid(photos), pager(count, offset, PERSON_PAGE, go, "Pages of their photos"));
}

// -- photos of people together ------------------------------------------------------------

const SEARCH_PAGE = 30;

async function photosView(ids = [], offset = 0) {
  const { people } = await api("/v1/people");
  const chosen = ids.map((id) => people.find((p) => p.id === id)).filter(Boolean); // in the order chosen
  const go = (next, at = 0) => { location.hash = next.length ? `#/photos/${next.join(",")}${at ? `/${at}` : ""}` : "#/photos"; };
  const input = el("input", { id: "photo-person", list: "photo-people", placeholder: "Name", "aria-label": "Add a person to the search", maxlength: "200" });
  const add = el("form", { class: "row", role: "search", onsubmit: (event) => {
    event.preventDefault();
    const found = people.find((p) => p.name.toLowerCase() === input.value.trim().toLowerCase());
    if (!found) { say(`Nobody is called ${input.value.trim()}.`, false); return; }
    go([...new Set([...ids, found.id])]);
  } }, el("label", { for: "photo-person", text: "Photos with " }), input,
     el("datalist", { id: "photo-people" }, ...people.filter((p) => !ids.includes(p.id)).map((p) => el("option", { value: p.name }))),
     el("button", { class: "primary", type: "submit", text: "Add" }));
  const picked = el("ul", { class: "chosen", id: "photo-chosen", "aria-label": "People searched for" },
    ...chosen.map((p) => el("li", {}, el("span", { text: p.name }),
      el("button", { "aria-label": `Remove ${p.name}`, text: "✕", onclick: () => go(ids.filter((i) => i !== p.id)) }))));
  const parts = [el("h2", { text: "Photos" }), add, picked];
  if (!chosen.length) {
    parts.push(el("p", { class: "muted", text: "Choose one person, or several to find the photos they are in together." }));
    view().replaceChildren(...parts);
    return;
  }
  const { count, photos } = await api(`/v1/photos?${chosen.map((p) => `person=${p.id}`).join("&")}&limit=${SEARCH_PAGE}&offset=${offset}`);
  parts.push(el("p", { id: "photo-count", class: "muted", text: `${count} photo${count === 1 ? "" : "s"} with ${chosen.map((p) => p.name).join(" and ")}, newest first.` }),
    photoGrid(photos), pager(count, offset, SEARCH_PAGE, (at) => go(ids, at), "Pages of photos"));
  view().replaceChildren(...parts);
}

// -- albums -------------------------------------------------------------------------------

let polling = null;

async function albumsView(path = null) {
  const data = await api("/v1/albums/folders" + (path ? `?path=${encodeURIComponent(path)}` : ""));
  const list = el("ul", { class: "folders", id: "folders" });
  if (data.path && data.parent) list.append(el("li", {}, el("button", { text: "↑ up", onclick: () => albumsView(data.parent) })));
  if (data.path && !data.parent) list.append(el("li", {}, el("button", { text: "↑ all folders", onclick: () => albumsView(null) })));
  for (const f of data.folders) list.append(el("li", {}, el("button", { class: "folder", "data-path": f.path, text: f.name, onclick: () => albumsView(f.path) })));
  const parts = [el("h2", { text: "Albums" }),
    el("p", { class: "muted", text: data.path ? `In ${data.path}` : "The folders this service may read (FACEPAIR_ALBUM_ROOTS)." }), list];
  if (!data.folders.length && !data.path) parts.push(el("p", { class: "muted", text: "No folders: set FACEPAIR_ALBUM_ROOTS." }));
  if (data.path) {
    const xmp = el("input", { type: "checkbox", id: "xmp" });
    parts.push(el("div", { class: "row" },
      el("button", { class: "primary", id: "tag", text: "Tag this folder", onclick: () => startJob(data.path, xmp.checked) }),
      el("label", {}, xmp, " write XMP sidecars (face tags photo managers read)")),
      el("div", { id: "job" }), el("div", { id: "photos", "data-path": data.path }));
    showPhotos(data.path);
  }
  view().replaceChildren(...parts);
}

async function startJob(path, xmp) {
  try {
    const job = await api("/v1/albums/jobs", { method: "POST", json: { path, xmp } });
    followJob(job.id, path);
  } catch (e) { say(e.message, false); }
}

function followJob(id, path) {
  const bar = el("progress", { class: "progress", max: "1", value: "0", id: "job-progress" });
  const text = el("p", { id: "job-text", text: "Waiting for a worker…" });
  const cancel = el("button", { text: "Cancel", onclick: () => api(`/v1/albums/jobs/${id}`, { method: "DELETE" }).catch((e) => say(e.message, false)) });
  $("#job").replaceChildren(bar, text, cancel);
  clearInterval(polling);
  polling = setInterval(async () => {
    let job;
    try { job = await api(`/v1/albums/jobs/${id}`); } catch (e) { say(e.message, false); clearInterval(polling); return; }
    bar.max = String(Math.max(1, job.total)); bar.value = String(job.done);
    text.textContent = `${job.status}: ${job.done} of ${job.total} photos, ${job.faces} faces, ${job.named} named, ${job.unknown} unknown` +
      (job.problems ? `, ${job.problems} problem(s)` : "");
    if (!["queued", "running"].includes(job.status)) {
      clearInterval(polling);
      cancel.remove();
      say(`Album job ${job.status}.`, job.status === "done");
      showPhotos(path);
      refreshWaiting();
    }
  }, 700);
}

const ALBUM_PAGE = 24;

async function showPhotos(path, offset = 0, open = null) {
  const { count, photos } = await api(`/v1/albums/photos?root=${encodeURIComponent(path)}&limit=${ALBUM_PAGE}&offset=${offset}`);
  const holder = $("#photos");
  const go = (at) => showPhotos(path, at).catch((e) => say(e.message, false));
  if (!holder || holder.dataset.path !== path) return; // the user has left that folder since
  holder.replaceChildren(el("div", { id: "photo-open" }), el("h2", { text: `Tagged photos (${count})` }),
    photoGrid(photos, (p) => openPhoto(p, path, offset)), pager(count, offset, ALBUM_PAGE, go, "Pages of tagged photos"));
  const shown = photos.find((p) => p.id === open);
  if (shown) openPhoto(shown, path, offset);
}

// A box drawn on a picture `width` × `height` pixels: its four corners in fields (x1, y1, x2,
// y2, in those pixels: the keyboard's way), or dragged on `surface` once drawing is turned on
// (`toggle(form, id)`: a button that turns it on and shows `form`); `measure`, the element the
// picture fills. `show(box)` follows every change (null: no box yet).
function boxDrawing(surface, measure, width, height, show) {
  const corners = ["x1", "y1", "x2", "y2"].map((n, i) => el("input", { type: "number", name: n, min: "0",
    max: String(i % 2 ? height : width), step: "1", required: "", class: "corner" }));
  const box = () => corners.map((c) => Number(c.value));
  const changed = () => { const b = box(); show(b[2] > b[0] && b[3] > b[1] ? b : null); };
  for (const c of corners) c.addEventListener("input", changed);
  let start = null;
  const point = (event) => {
    const r = measure.getBoundingClientRect();
    const clip = (v, max) => Math.round(Math.min(max, Math.max(0, v)));
    return [clip((event.clientX - r.left) / r.width * width, width), clip((event.clientY - r.top) / r.height * height, height)];
  };
  const drag = (event) => {
    if (!start) return;
    const end = point(event);
    [Math.min(start[0], end[0]), Math.min(start[1], end[1]), Math.max(start[0], end[0]), Math.max(start[1], end[1])]
      .forEach((v, i) => { corners[i].value = String(v); });
    changed();
  };
  // (handlers as properties: a surface drawn on again drops the last picture's)
  surface.onpointerdown = (event) => {
    if (!surface.classList.contains("drawing")) return;
    event.preventDefault(); surface.setPointerCapture(event.pointerId); start = point(event);
  };
  surface.onpointermove = drag;
  surface.onpointerup = (event) => { drag(event); start = null; };
  const toggle = (form, id) => {
    const button = el("button", { id, "aria-pressed": "false", text: "Draw a face", onclick: () => {
      const on = button.getAttribute("aria-pressed") !== "true";
      button.setAttribute("aria-pressed", String(on));
      surface.classList.toggle("drawing", on);
      form.hidden = !on;
    } });
    return button;
  };
  return { corners, box, toggle };
}

// A tagged photo opened larger, its faces' boxes on it; "Draw a face" adds one the detector
// missed: drag a rectangle on the photo (or type its corners), name it, save.
function openPhoto(p, path, offset = 0) {
  if (p.duration !== null && p.duration !== undefined) return openVideo(p);
  const file = p.path.split(/[/:]/).pop();
  const at = (box) => ({ left: 100 * box[0] / p.width, top: 100 * box[1] / p.height,
    width: 100 * (box[2] - box[0]) / p.width, height: 100 * (box[3] - box[1]) / p.height });
  const place = (node, box) => { for (const [k, v] of Object.entries(at(box))) node.style[k] = `${v}%`; };
  const img = picture(`/v1/albums/photos/${p.id}/image`, file);
  const stage = el("div", { class: "photo-open", id: "photo-stage" }, img);
  for (const f of p.faces) {
    const who = f.person ? f.person.name : "unknown";
    const box = el("div", { class: "face-box" + (f.drawn ? " drawn" : ""), "data-face": f.id, title: who }, el("span", { text: who }));
    place(box, f.box);
    stage.append(box);
  }
  const drawing = el("div", { class: "face-box new", hidden: "" });
  stage.append(drawing);
  const { corners, box, toggle } = boxDrawing(stage, img, p.width, p.height, (drawn) => {
    drawing.hidden = !drawn;
    if (drawn) place(drawing, drawn);
  });
  const name = el("input", { id: "drawn-name", list: "people-names", placeholder: "Name (empty: unknown)", maxlength: "200" });
  const names = el("datalist", { id: "people-names" });
  api("/v1/people").then(({ people }) => names.replaceChildren(...people.map((q) => el("option", { value: q.name })))).catch(() => {});
  const form = el("form", { class: "row", id: "draw-form", hidden: "", onsubmit: async (event) => {
    event.preventDefault();
    try {
      const face = await api(`/v1/albums/photos/${p.id}/faces`, { method: "POST", json: { box: box(), name: name.value.trim() || null } });
      say(`Added a face: ${face.person ? face.person.name : "unknown"}` + (face.enrolled ? ", enrolled" : "") +
        (face.unrecognisable ? " (too poor to recognise: kept, never enrolled)" : "") + ".");
      showPhotos(path, offset, p.id);
    } catch (e) { say(e.message, false); }
  } }, ...corners.map((c) => el("label", {}, `${c.name} `, c)),
    el("label", {}, "Name ", name), names, el("button", { class: "primary", type: "submit", text: "Save" }));
  // each face of the photo, put right in one step
  const faces = el("ul", { class: "photo-faces", id: "photo-faces", "aria-label": "The faces of the photo" },
    ...p.faces.map((f) => el("li", { "data-face": String(f.id) },
      picture(`/v1/album-faces/${f.id}/chip`, f.person ? f.person.name : "unknown"),
      el("span", { class: "who", text: f.person ? f.person.name : "unknown" }),
      thisIsForm(f.id, "album", (r) => {
        say(`That face is ${r.person.name}'s now` + (r.previous ? `, and never ${r.previous.name}'s again.` : "."));
        showPhotos(path, offset, p.id);
      }, f.person ? "Move" : "Name"))));
  $("#photo-open").replaceChildren(el("h2", { text: file }),
    el("div", { class: "row" }, toggle(form, "draw-face"), el("button", { text: "Close", onclick: () => $("#photo-open").replaceChildren() })),
    form, stage, faces);
  stage.scrollIntoView({ block: "nearest" });
}

// -- unknown groups -----------------------------------------------------------------------

const GROUP_PAGE = 10;

async function groupsView() {
  const [{ clusters }, { people }] = await Promise.all([api("/v1/clusters"), api("/v1/people")]);
  const names = el("datalist", { id: "people-names" }, ...people.map((p) => el("option", { value: p.name })));
  const parts = [el("h2", { text: "Unknown groups" }), names,
    el("p", { class: "muted", text: "Faces nobody is enrolled as, grouped. Naming a group as someone who exists adds the faces to them." })];
  if (!clusters.length) parts.push(el("p", { class: "muted", text: "No groups: tag an album first." }));
  const group = (g) => {
    const input = el("input", { list: "people-names", placeholder: "Who is this?", "aria-label": `Name group ${g.id}`, maxlength: "200", required: "" });
    return el("section", { class: "card group", "data-group": String(g.id) },
      el("div", { text: `Group ${g.id}: ${g.faces} faces in ${g.photos} photos` }),
      el("div", { class: "faces" }, ...g.face_ids.map((id) => el("div", { class: "face", "data-face": String(id) },
        picture(`/v1/album-faces/${id}/chip`, `face ${id}`),
        thisIsForm(id, "album", (r) => { say(`That face is ${r.person.name}'s now.`); route(); }, "Name"),
        el("button", { text: "Not in this group", onclick: async () => {
          try { await api(`/v1/album-faces/${id}/split`, { method: "POST" }); say("Split off."); route(); } catch (e) { say(e.message, false); }
        } })))),
      el("form", { class: "row", onsubmit: async (event) => {
        event.preventDefault();
        try { const r = await api(`/v1/clusters/${g.id}/name`, { method: "POST", json: { name: input.value } }); say(`${r.person.name}: ${r.enrolled_faces} faces enrolled.`); route(); }
        catch (e) { say(e.message, false); }
      } }, input, el("button", { class: "primary", type: "submit", text: "Name" }),
        el("button", { type: "button", text: "Hide", onclick: async () => {
          try { await api(`/v1/clusters/${g.id}/hide`, { method: "POST" }); say("Hidden."); route(); } catch (e) { say(e.message, false); }
        } })));
  };
  view().replaceChildren(...parts, paged(el("div", { class: "groups", id: "groups" }), clusters, GROUP_PAGE, group, "Pages of groups"));
}

// -- suggestions --------------------------------------------------------------------------

async function refreshWaiting() {
  try { const { waiting } = await api("/v1/suggestions?limit=1"); $("#waiting").textContent = waiting ? String(waiting) : ""; }
  catch { $("#waiting").textContent = ""; }
}

async function suggestionsView() {
  const { waiting, suggestions } = await api("/v1/suggestions?limit=1");
  $("#waiting").textContent = waiting ? String(waiting) : "";
  if (!suggestions.length) {
    view().replaceChildren(el("h2", { text: "Suggestions" }), el("p", { class: "muted", id: "none-waiting", text: "No suggestions wait." }));
    return;
  }
  const s = suggestions[0];
  const reply = async (answer) => {
    document.removeEventListener("keydown", keys);
    try { await api(`/v1/suggestions/${s.face_id}`, { method: "POST", json: { answer } }); } catch (e) { say(e.message, false); }
    suggestionsView();
  };
  const keys = (event) => {
    if (event.target.tagName === "INPUT" || location.hash !== "#/suggestions") return;
    const answer = { y: "yes", n: "no", s: "skip" }[event.key];
    if (answer) { event.preventDefault(); reply(answer); }
  };
  document.addEventListener("keydown", keys);
  api("/v1/people").then(({ people }) => $("#people-names")?.replaceChildren(
    ...people.map((q) => el("option", { value: q.name })))).catch(() => {});
  view().replaceChildren(el("h2", { text: "Suggestions" }),
    el("p", { id: "waiting-count", class: "muted", text: `${waiting} waiting` }),
    el("div", { class: "suggestion", "data-face": String(s.face_id) },
      picture(`/v1/album-faces/${s.face_id}/chip`, "the face"),
      el("p", {}, "Is this ", el("strong", { id: "suggested", text: s.person.name }), "?"),
      el("p", { class: "muted", text: `${s.path.split(/[/:]/).pop()} · score ${s.score.toFixed(3)}` }),
      el("p", { id: "support", class: "muted", text: s.support.faces
        ? `Like ${s.support.faces} face${s.support.faces === 1 ? "" : "s"} named ${s.person.name} in other photos:`
        : `Like no face named ${s.person.name} in other photos.` }),
      el("div", { class: "faces" }, ...s.support.closest.map((f) => picture(`/v1/album-faces/${f.face_id}/chip`, `a face named ${s.person.name}, cosine ${f.score.toFixed(3)}`))),
      el("div", { class: "row" },
        el("button", { class: "primary", text: "Yes", onclick: () => reply("yes") }),
        el("button", { text: "No", onclick: () => reply("no") }),
        el("button", { text: "Skip", onclick: () => reply("skip") })),
      // someone else: named in one step (and never the one suggested, if it was them)
      thisIsForm(s.face_id, "album", (r) => {
        document.removeEventListener("keydown", keys);
        say(`That face is ${r.person.name}'s now.`);
        suggestionsView();
      }, "Name"),
      el("datalist", { id: "people-names" }),
      el("p", { class: "keys muted" }, "Keys: ", el("kbd", { text: "y" }), " yes, ", el("kbd", { text: "n" }), " no, ", el("kbd", { text: "s" }), " skip")));
}

// -- who is in this photo? ----------------------------------------------------------------

function identifyView() {
  const file = el("input", { type: "file", accept: "image/*", id: "identify-file", onchange: () => identify(file.files[0]) });
  view().replaceChildren(el("h2", { text: "Who is in this photo?" }), el("label", {}, "A photo ", file),
    el("canvas", { id: "canvas", width: "0", height: "0" }), el("ul", { id: "names" }), el("div", { id: "identify-draw" }));
}

async function identify(file) {
  const form = new FormData(); form.append("photo", file);
  let result;
  try { result = await api("/v1/identify", { method: "POST", form }); } catch (e) { say(e.message, false); return; }
  const image = await createImageBitmap(file);
  const canvas = $("#canvas"), ctx = canvas.getContext("2d");
  canvas.width = image.width; canvas.height = image.height;
  const paint = (drawn = null) => {
    ctx.drawImage(image, 0, 0);
    ctx.lineWidth = Math.max(2, image.width / 300);
    ctx.font = `${Math.max(14, image.width / 40)}px system-ui`;
    for (const face of result.faces) {
      const [x1, y1, x2, y2] = face.box;
      ctx.strokeStyle = face.person ? "#106b21" : face.unrecognisable ? "#8a8a8a" : "#b00020";
      ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
      ctx.fillStyle = ctx.strokeStyle;
      ctx.fillText(labelOf(face), x1, Math.max(12, y1 - 6));
    }
    if (drawn) { ctx.setLineDash([8, 6]); ctx.strokeStyle = "#e0a800"; ctx.strokeRect(drawn[0], drawn[1], drawn[2] - drawn[0], drawn[3] - drawn[1]); ctx.setLineDash([]); }
  };
  paint();
  const list = $("#names"); list.replaceChildren();
  for (const face of result.faces) {
    const candidates = face.candidates.map((c) => `${c.name} ${c.score.toFixed(2)}`).join(", ");
    list.append(el("li", {}, el("span", { class: "label", text: labelOf(face) }),
      el("span", { class: "muted", text: (face.reason ? ` (${face.reason})` : "") + (candidates ? ` — candidates: ${candidates}` : "") })));
  }
  say(`${result.faces.length} face(s) found.`);
  drawOnCanvas(file, canvas, image, paint);
}

function labelOf(face) {
  const quality = face.quality == null ? "" : ` · quality ${face.quality.toFixed(2)}`;
  return (face.person ? `${face.person.name} (${face.score.toFixed(2)})`
    : face.unrecognisable ? "unrecognisable" : "unknown") + quality;
}

// "Draw a face" on the photo asked about: drag a rectangle on it (or type its corners), name it,
// and the face in it is enrolled for that person (a new person for a new name)
async function drawOnCanvas(file, canvas, image, paint) {
  const { people } = await api("/v1/people");
  const { corners, box, toggle } = boxDrawing(canvas, canvas, image.width, image.height, paint);
  const name = el("input", { id: "identify-name", list: "identify-people", required: "", maxlength: "200" });
  const form = el("form", { class: "row", id: "identify-draw-form", hidden: "", onsubmit: async (event) => {
    event.preventDefault();
    try {
      const wanted = name.value.trim();
      const person = people.find((q) => q.name === wanted) || await api("/v1/people", { method: "POST", json: { name: wanted } });
      const one = new FormData(); one.append("photo", file); one.append("box", box().join(","));
      await api(`/v1/people/${person.id}/photos`, { method: "POST", form: one });
      say(`Enrolled ${person.name} from the face drawn.`);
    } catch (e) { say(e.message, false); }
  } }, ...corners.map((c) => el("label", {}, `${c.name} `, c)), el("label", {}, "Who is it ", name),
    el("datalist", { id: "identify-people" }, ...people.map((q) => el("option", { value: q.name }))),
    el("button", { class: "primary", type: "submit", text: "Enroll" }));
  $("#identify-draw").replaceChildren(el("p", { class: "muted", text: "A face it missed, or one to enroll: draw it." }),
    toggle(form, "identify-draw-face"), form);
}

// -- routing ------------------------------------------------------------------------------

async function route() {
  const [, name = "people", arg] = location.hash.split("/");
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("current", a.dataset.view === name);
  if (!ready()) {
    view().replaceChildren(el("p", { text: "Paste an API key above (make one with: facepair keys create --scope write)." }));
    return;
  }
  try {
    if (name === "person") await personView(Number(arg));
    else if (name === "photos") await photosView((arg || "").split(",").filter(Boolean).map(Number), Number(location.hash.split("/")[3] || 0));
    else if (name === "albums") await albumsView();
    else if (name === "groups") await groupsView();
    else if (name === "suggestions") await suggestionsView();
    else if (name === "identify") identifyView();
    else await peopleView();
  } catch (e) { say(e.message, false); }
}

$("#key").value = key();
$("#key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem("facepair-key", $("#key").value.trim());
  sessionStorage.removeItem("facepair-collection");
  say("Key in use for this tab.");
  showCollection();
  route();
  refreshWaiting();
});
window.addEventListener("hashchange", route);

async function start() {
  route();
  if (key()) { showCollection(); refreshWaiting(); return; }
  // without keys the service answers who asks: no key to paste (and a key pasted meanwhile
  // has routed already)
  const response = await fetch("/v1/collection").catch(() => null);
  if (response && response.ok && !key()) {
    keyless = true;
    $("#key-form").hidden = true;
    route(); showCollection(); refreshWaiting();
  }
}
start();
