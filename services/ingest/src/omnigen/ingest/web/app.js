// omnigen's web page: hash routes over the HTTP API of the same origin. No build step.
// The access token lives in this module's memory only (never in storage or a URL). A reload
// keeps the user signed in all the same: on the local stack the tab's sessionStorage holds a
// one-time resume code (minutes long, no bearer token, renewed while the page is open) that is
// exchanged again; with the hosted sign-in the page runs it again (the identity provider's
// session cookie makes it silent) and comes back to the same route. Progress streams with
// fetch() and the Authorization header (no token in a URL).

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const statusLine = document.getElementById("status");

// hosted: the sign-in config once signed in there, and when (an ended token signs in again)
const session = { token: null, user: null, hosted: null, since: 0 };
const FRESH_TOKEN_MS = 10 * 1000; // a token refused sooner than this is not an ended one
const PKCE_KEY = "omnigen.signin"; // the PKCE verifier, state and route, across the redirect only
const RESUME_KEY = "omnigen.resume"; // local sign-in: the one-time code a reload exchanges
const HOSTED_KEY = "omnigen.hosted"; // hosted sign-in: "1" once signed in (a reload signs in again)
const RESUME_RENEW_MS = 4 * 60 * 1000; // the resume code lives 10 minutes
let renewal = null;
let leave = () => {}; // stops the current page's streams and timers

const OPTIONS = {
  aspect_ratio: [["16:9", "16:9 landscape"], ["9:16", "9:16 portrait"], ["1:1", "1:1 square"]],
  language: ["", "en", "es", "fr", "de", "pt", "it", "ja", "zh", "ko", "ar", "he", "hi"],
  style: ["", "cinematic", "documentary", "energetic", "minimal", "dramatic", "playful"],
  tone: ["", "premium", "friendly", "edgy", "inspiring", "humorous"],
  tempo: ["", "slow", "medium", "fast"],
  platform: ["", "instagram", "tiktok", "youtube", "facebook"],
  goal: ["", "awareness", "sales", "engagement", "signups"],
  captions_mode: ["", "burned", "sidecar", "both", "none"],
  captions_style: ["classic", "bold_box", "word_highlight"],
  captions_position: ["bottom", "middle", "top"],
  music_mood: ["", "none", "uplifting", "calm", "energetic", "dramatic", "mysterious", "playful",
    "melancholic", "inspiring"],
  status: [["", "all"], "pending", "processing", "completed", "failed"],
  continuity: [["", "(default)"], ["chain", "chain: each scene starts from the last frame"],
    ["none", "none: each scene on its own"], ["keyframes", "keyframes: one look, scenes in parallel"]],
};
// A scene's shot (the given script's optional fields, shared/domain/scripts.py's SceneDraft):
// "" leaves the API's default.
const SHOT = {
  shot_type: ["Shot", ["extreme_wide", "wide", "medium", "close_up", "extreme_close_up",
    "over_the_shoulder", "pov", "aerial"]],
  camera_angle: ["Camera angle", ["eye_level", "high", "low", "dutch", "birds_eye", "worms_eye"]],
  camera_move: ["Camera move", ["static", "pan_left", "pan_right", "tilt_up", "tilt_down", "dolly_in",
    "dolly_out", "tracking", "crane", "handheld"]],
  lighting: ["Lighting", ["natural", "golden_hour", "blue_hour", "high_key", "low_key", "neon",
    "studio", "backlit"]],
  color_grade: ["Colour grade", ["neutral", "warm", "cool", "teal_orange", "black_and_white",
    "vintage", "vibrant", "muted"]],
  mood: ["Mood", ["uplifting", "calm", "energetic", "dramatic", "mysterious", "playful",
    "melancholic", "inspiring"]],
  transition_in: ["Transition in", ["cut", "fade", "crossfade"]],
};
const SHOT_TEXT = { location: ["Location", 300], action: ["Action (what happens)", 500],
  visual_style: ["Visual style", 200] };
const SCENE_FIELDS = ["narration", "generation_prompt", "duration", "media", ...Object.keys(SHOT),
  ...Object.keys(SHOT_TEXT)];
const UPLOAD_TYPES = "image/jpeg,image/png,image/webp,video/mp4,video/quicktime,audio/mpeg,audio/wav,audio/mp4";

// -- small helpers --------------------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

function announce(text) {
  statusLine.textContent = text;
}

function show(title, ...children) {
  main.replaceChildren(el("h1", { text: title }), ...children.filter(Boolean));
  document.title = `${title} · omnigen`;
}

function labelOf(value) {
  return value === "" ? "(default)" : value.replaceAll("_", " ");
}

function select(id, label, values, value = "") {
  const options = values.map((entry) => {
    const [v, text] = Array.isArray(entry) ? entry : [entry, labelOf(entry)];
    return el("option", { value: v, selected: v === value }, text);
  });
  return field(id, label, el("select", { id, name: id }, options));
}

function field(id, label, control, hint) {
  if (hint) control.setAttribute("aria-describedby", `${id}-hint ${id}-error`);
  else control.setAttribute("aria-describedby", `${id}-error`);
  return el(
    "div",
    { class: "field" },
    el("label", { for: id, text: label }),
    control,
    hint ? el("div", { class: "muted", id: `${id}-hint`, text: hint }) : null,
    el("div", { class: "error", id: `${id}-error`, "data-field": id }),
  );
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "";
}

class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `request failed (${status})`);
    this.status = status;
    this.code = error.code;
    this.field = error.field;
  }
}

async function api(path, { method = "GET", body, headers = {}, signal } = {}) {
  const init = { method, headers: { ...headers }, signal };
  if (session.token) init.headers.Authorization = `Bearer ${session.token}`;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (response.status === 401 && path !== "/v1/auth/signin") {
    if (!signInAgain()) signOut("Your sign-in ended; sign in again.");
    throw new ApiError(401, await safeJson(response));
  }
  if (!response.ok) throw new ApiError(response.status, await safeJson(response));
  if (response.status === 204) return { data: null, response };
  return { data: await response.json(), response };
}

async function safeJson(response) {
  try {
    return await response.json();
  } catch {
    return null;
  }
}

function problem(text) {
  return el("p", { class: "error", role: "alert", text });
}

// -- sign-in ----------------------------------------------------------------------------------

// With the hosted sign-in, an ended ID token (Cognito: an hour) runs the sign-in again (silent
// with the provider's session cookie) and comes back to the same route. Not for a token the
// API refused as soon as it was issued: that would only loop.
let reauthenticating = false;
function signInAgain() {
  if (reauthenticating) return true; // on the way to the provider already
  if (!session.hosted || Date.now() - session.since < FRESH_TOKEN_MS) return false;
  reauthenticating = true;
  session.token = null;
  startHostedSignIn(session.hosted);
  return true;
}

function signOut(message) {
  session.token = null;
  session.user = null;
  session.hosted = null;
  clearInterval(renewal);
  sessionStorage.removeItem(RESUME_KEY);
  sessionStorage.removeItem(HOSTED_KEY);
  nav.hidden = true;
  location.hash = "#/";
  if (message) announce(message);
}

async function exchange(code) {
  try {
    const { data } = await api("/v1/auth/signin", { method: "POST", body: { code } });
    session.token = data.access_token;
    session.user = data.user_id;
    keepResumeCode(data.resume_code);
    nav.hidden = false;
    return null;
  } catch (error) {
    sessionStorage.removeItem(RESUME_KEY);
    return error.message;
  }
}

// The resume code: one use, ten minutes, refused as a bearer token. Renewed (and the access
// token with it) every few minutes, so the code a reload finds is always fresh.
function keepResumeCode(code) {
  clearInterval(renewal);
  if (!code) return;
  sessionStorage.setItem(RESUME_KEY, code);
  renewal = setInterval(async () => {
    const current = sessionStorage.getItem(RESUME_KEY);
    if (!current || !session.token) return clearInterval(renewal);
    sessionStorage.removeItem(RESUME_KEY); // used up whatever the answer
    try {
      const { data } = await api("/v1/auth/signin", { method: "POST", body: { code: current } });
      session.token = data.access_token;
      sessionStorage.setItem(RESUME_KEY, data.resume_code);
    } catch {
      clearInterval(renewal); // still signed in until the token ends; a reload would sign out
    }
  }, RESUME_RENEW_MS);
}

// Hosted sign-in: authorization code + PKCE (RFC 7636) at the identity provider (Cognito's
// hosted UI). Only the verifier, state and route wait in sessionStorage across the redirect
// (and, once signed in, the mark that a reload signs in again); the tokens stay in memory.
// The page sends the ID token: its `aud` is the app client id.
function base64url(bytes) {
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

function redirectUri() {
  return `${location.origin}/`;
}

async function startHostedSignIn(hosted) {
  const back = location.hash.startsWith("#/") ? location.hash : "#/videos"; // before any await
  const verifier = base64url(crypto.getRandomValues(new Uint8Array(32)));
  const state = base64url(crypto.getRandomValues(new Uint8Array(16)));
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  sessionStorage.setItem(PKCE_KEY, JSON.stringify({ verifier, state, back }));
  const url = new URL(hosted.authorize_url);
  url.search = new URLSearchParams({
    response_type: "code",
    client_id: hosted.client_id,
    redirect_uri: redirectUri(),
    scope: hosted.scope,
    state,
    code_challenge: base64url(new Uint8Array(digest)),
    code_challenge_method: "S256",
  }).toString();
  location.assign(url.toString());
}

async function finishHostedSignIn(hosted) {
  const params = new URLSearchParams(location.search);
  history.replaceState(null, "", "/"); // the code leaves the address bar
  const saved = JSON.parse(sessionStorage.getItem(PKCE_KEY) || "null");
  sessionStorage.removeItem(PKCE_KEY);
  if (params.get("error")) return `Sign-in failed: ${params.get("error_description") || params.get("error")}`;
  if (!saved || saved.state !== params.get("state")) return "Sign-in failed: the answer is not for this tab's request; try again.";
  try {
    const response = await fetch(hosted.token_url, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "authorization_code",
        client_id: hosted.client_id,
        code: params.get("code"),
        redirect_uri: redirectUri(),
        code_verifier: saved.verifier,
      }),
    });
    if (!response.ok) return `Sign-in failed: the identity provider answered ${response.status}.`;
    const tokens = await response.json();
    session.token = tokens.id_token || tokens.access_token;
  } catch {
    return "Sign-in failed: the identity provider could not be reached.";
  }
  sessionStorage.setItem(HOSTED_KEY, "1");
  session.hosted = hosted;
  session.since = Date.now();
  nav.hidden = false;
  location.hash = saved.back || "#/videos"; // where the user was before the redirect
  return null;
}

function signInPage(message) {
  const token = el("textarea", { id: "token", name: "token", rows: 3, autocomplete: "off" });
  const form = el(
    "form",
    {
      onsubmit: (event) => {
        event.preventDefault();
        const value = token.value.trim();
        if (!value) return;
        session.token = value;
        session.user = null;
        nav.hidden = false;
        location.hash = "#/videos";
      },
    },
    field("token", "Access token", token, "The bearer token (OMNIGEN_TOKEN); kept in this tab's memory only."),
    el("button", { type: "submit" }, "Sign in with a token"),
  );
  const hosted = authConfig.hosted;
  show(
    "Sign in",
    message ? problem(message) : null,
    hosted ? el("p", {}, el("button", { type: "button", id: "hosted-signin", onclick: () => startHostedSignIn(hosted) }, "Sign in")) : null,
    authConfig.local_signin ? el("p", {}, "On the local stack, open the one-time sign-in link that ",
      el("code", { text: "omnigen local up" }), " printed (it works once, for ten minutes).") : null,
    el("p", { class: "muted" }, "Or paste an access token:"),
    form,
  );
}

// -- new video --------------------------------------------------------------------------------

function newVideoPage() {
  const text = (id, label, attrs = {}, hint) =>
    field(id, label, el("input", { type: "text", id, name: id, ...attrs }), hint);
  const form = el(
    "form",
    { id: "new-video", novalidate: true, onsubmit: submitNew },
    field("prompt", "Prompt", el("textarea", { id: "prompt", name: "prompt" }),
      "What the video is about (10-2000 characters); optional with a script of your own."),
    uploadsSection(),
    scriptEditor(),
    el("div", { class: "grid3" },
      field("duration", "Duration (seconds)",
        el("input", { type: "number", id: "duration", name: "duration", value: "15", min: "10", max: "60", step: "1" })),
      select("aspect_ratio", "Aspect ratio", OPTIONS.aspect_ratio, "16:9"),
      select("language", "Language", OPTIONS.language)),
    el("div", { class: "grid" },
      field("voice", "Voice", el("select", { id: "voice", name: "voice" }, el("option", { value: "" }, "(default)"))),
      text("speech_rate", "Speech rate", { inputmode: "decimal", placeholder: "1.0" }, "0.5-2.0; 1.0 is normal.")),
    el("fieldset", {}, el("legend", { text: "Captions and music" }),
      el("div", { class: "grid3" },
        select("captions_mode", "Captions", OPTIONS.captions_mode),
        select("captions_style", "Caption style", OPTIONS.captions_style),
        select("captions_position", "Caption position", OPTIONS.captions_position)),
      el("div", { class: "grid" },
        select("music_mood", "Music", OPTIONS.music_mood),
        uploadPicker("music_track", "Music track (your upload)", "audio"))),
    el("fieldset", {}, el("legend", { text: "Creative direction" }),
      text("title", "Title", { maxlength: "100" }),
      el("div", { class: "grid" },
        select("style", "Style", OPTIONS.style),
        select("tone", "Tone", OPTIONS.tone),
        select("tempo", "Tempo", OPTIONS.tempo),
        select("platform", "Platform", OPTIONS.platform),
        select("goal", "Goal", OPTIONS.goal),
        text("audience", "Audience", { maxlength: "200" })),
      text("call_to_action", "Call to action", { maxlength: "100" }),
      el("div", { class: "grid" },
        uploadPicker("start_image", "Start image (your upload)", "image"),
        uploadPicker("style_reference_image", "Style reference (your upload)", "image")),
      select("continuity", "Continuity between scenes", OPTIONS.continuity)),
    el("div", { class: "field check" },
      el("input", { type: "checkbox", id: "review", name: "review" }), " ",
      el("label", { for: "review", text: "Let me review and edit the script before it renders" })),
    el("div", { class: "error", id: "form-error", role: "alert" }),
    el("button", { type: "submit", id: "submit" }, "Make the video"),
  );
  show("New video", form);
  loadVoices(form.querySelector("#voice"), form.querySelector("#language"));
  loadUploads();
}

// -- uploads: the user's own media --------------------------------------------------------------
// Each file: POST /v1/uploads, then the browser POSTs the file to storage (the presigned POST:
// its fields, then `file`), then GET /v1/uploads/{id} until the checker says ready or rejected.
// Ready uploads fill the pickers (scene media, start image, music track).

const uploads = new Map(); // id -> the API's upload, in the order they came

function uploadsSection() {
  const input = el("input", { type: "file", id: "upload-files", name: "upload-files", multiple: true,
    accept: UPLOAD_TYPES, onchange: (event) => { addFiles(event.target.files); event.target.value = ""; } });
  const zone = el("div", { class: "dropzone", id: "dropzone" },
    field("upload-files", "Add photos, clips or music", input,
      "Or drop files here. JPEG, PNG, WebP (25 MiB), MP4, MOV (300 MiB), MP3, WAV, M4A (50 MiB)."));
  zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    addFiles(event.dataTransfer.files);
  });
  return el("fieldset", {}, el("legend", { text: "My uploads" }), zone,
    el("ul", { class: "uploads", id: "uploads", "aria-label": "my uploads", "aria-live": "polite" }));
}

function uploadPicker(id, label, kind) {
  const control = el("select", { id, name: id, "data-uploads": kind }, el("option", { value: "" }, "(none)"));
  return field(id, label, control);
}

async function loadUploads() {
  try {
    const { data } = await api("/v1/uploads");
    uploads.clear();
    for (const upload of data.uploads) uploads.set(upload.id, upload);
  } catch (error) {
    if (error.status !== 401 && error.status !== 503) announce(`uploads: ${error.message}`);
    return;
  }
  showUploads();
  for (const upload of uploads.values()) if (upload.status === "pending") followUpload(upload.id);
}

function showUploads() {
  const list = document.getElementById("uploads");
  if (!list) return; // the page changed
  const rows = [...uploads.values()].reverse().map((upload) => {
    const name = upload.filename || upload.id;
    const facts = upload.width ? ` · ${upload.width}x${upload.height}` : upload.duration_s ? ` · ${upload.duration_s.toFixed(1)} s` : "";
    return el("li", { "data-upload": upload.id },
      el("span", {}, el("strong", { text: name }), " ",
        el("span", { class: `badge ${upload.status}`, "data-status": "", text: upload.status }),
        el("span", { class: "muted", text: ` ${upload.kind}${facts}` })),
      upload.reason ? el("span", { class: "error", text: upload.reason }) : null,
      upload.id.startsWith("up_") ? el("button", { type: "button", class: "danger", "aria-label": `Delete upload ${name}`,
        onclick: () => deleteUpload(upload) }, "Delete") : null);
  });
  list.replaceChildren(...rows);
  fillPickers();
}

function pickerOptions(kind) {
  const ready = [...uploads.values()].filter((u) => u.status === "ready" && (!kind || u.kind === kind));
  return [el("option", { value: "" }, "(none)"),
    ...ready.map((u) => el("option", { value: u.id }, `${u.filename || u.id} (${u.kind})`))];
}

function fillPickers() {
  for (const picker of document.querySelectorAll("select[data-uploads]")) {
    const chosen = picker.value;
    picker.replaceChildren(...pickerOptions(picker.dataset.uploads));
    picker.value = [...picker.options].some((o) => o.value === chosen) ? chosen : "";
  }
}

async function addFiles(files) {
  await Promise.all([...files].map(uploadFile));
}

async function uploadFile(file) {
  const local = { id: `local-${crypto.randomUUID()}`, filename: file.name, kind: file.type.split("/")[0] || "file",
    status: "sending", reason: null };
  uploads.set(local.id, local);
  showUploads();
  const fail = (reason) => {
    local.status = "failed";
    local.reason = reason;
    showUploads();
  };
  let created;
  try {
    ({ data: created } = await api("/v1/uploads", { method: "POST", body: { content_type: file.type, filename: file.name } }));
  } catch (error) {
    if (error.status !== 401) fail(error.message);
    return;
  }
  if (file.size > created.upload.max_bytes) {
    await api(`/v1/uploads/${created.id}`, { method: "DELETE" }).catch(() => {});
    return fail(`the file is larger than ${Math.floor(created.upload.max_bytes / 1048576)} MiB`);
  }
  const form = new FormData();
  for (const [name, value] of Object.entries(created.upload.fields)) form.append(name, value);
  form.append("file", file);
  try {
    const response = await fetch(created.upload.url, { method: "POST", body: form });
    if (!response.ok) return fail(`storage refused the file (${response.status})`);
  } catch {
    return fail("storage could not be reached");
  }
  uploads.delete(local.id);
  uploads.set(created.id, { ...created, upload: undefined });
  showUploads();
  await followUpload(created.id);
}

async function followUpload(id) {
  // the checker answers within seconds; stop when it has, or when the page is gone
  for (let wait = 500; document.getElementById("uploads"); wait = Math.min(wait * 1.5, 4000)) {
    await new Promise((resolve) => setTimeout(resolve, wait));
    try {
      const { data } = await api(`/v1/uploads/${id}`);
      uploads.set(id, data);
      if (data.status !== "pending") {
        showUploads();
        announce(`${data.filename || "upload"}: ${data.status}${data.reason ? ` (${data.reason})` : ""}`);
        return;
      }
    } catch (error) {
      if (error.status === 404 || error.status === 401) return;
    }
  }
}

async function deleteUpload(upload) {
  if (!confirm(`Delete ${upload.filename || "this upload"}?`)) return;
  try {
    await api(`/v1/uploads/${upload.id}`, { method: "DELETE" });
    uploads.delete(upload.id);
    showUploads();
    announce("Upload deleted.");
  } catch (error) {
    announce(error.message);
  }
}

async function loadVoices(voice, language) {
  const fill = async () => {
    const tag = language.value || "en";
    try {
      const { data } = await api(`/v1/voices?language=${encodeURIComponent(tag)}`);
      const options = [el("option", { value: "" }, "(default)")];
      for (const provider of data.providers.filter((p) => p.configured)) {
        for (const v of provider.voices) {
          options.push(el("option", { value: v.id }, `${v.id} — ${v.description}`));
        }
      }
      voice.replaceChildren(...options);
    } catch (error) {
      if (error.status !== 401) announce(`voices: ${error.message}`);
    }
  };
  language.addEventListener("change", fill);
  await fill();
}

// A script of your own instead of a prompt: a title and scenes (narration, picture, seconds,
// and optionally the shot: camera, light, mood, where and what).
function scriptEditor() {
  const scenes = el("div", { id: "script-scenes" });
  const editor = el("div", { id: "script-editor", hidden: true },
    field("script-title", "Script title", el("input", { type: "text", id: "script-title", maxlength: "200" })),
    el("p", { class: "muted", text: "Scenes, in order: what is said, what is shown, for how many seconds." }),
    scenes,
    el("button", { type: "button", class: "secondary", id: "add-scene", onclick: () => addScene(scenes) }, "Add a scene"));
  addScene(scenes);
  const toggle = el("input", { type: "checkbox", id: "own-script", name: "own-script",
    onchange: (event) => {
      editor.hidden = !event.target.checked;
      document.getElementById("duration").disabled = event.target.checked; // the scenes' total
    } });
  return el("fieldset", {}, el("legend", { text: "Your own script" }),
    el("div", { class: "field check" }, toggle, " ",
      el("label", { for: "own-script", text: "Use my own script (no model writes one; the narration is exactly these words)" })),
    editor);
}

function addScene(scenes, values = { narration: "", generation_prompt: "", duration: "5" }) {
  const block = el("div", { class: "scene-edit", "data-scene": "" });
  scenes.append(block);
  renumberScenes(scenes, values, block);
}

function renumberScenes(scenes, values, fresh) {
  const blocks = [...scenes.querySelectorAll("[data-scene]")];
  blocks.forEach((block, i) => {
    const read = (name) => (block === fresh ? values[name] || "" : block.querySelector(`[data-name=${name}]`).value);
    const kept = Object.fromEntries(SCENE_FIELDS.map((name) => [name, read(name)]));
    const open = block !== fresh && block.querySelector("details").open;
    const id = (name) => `script-scenes-${i}-${name}`;
    block.replaceChildren(
      el("h3", { text: `Scene ${i + 1}` }),
      field(id("narration"), "Narration", el("textarea", { id: id("narration"), "data-name": "narration", rows: 2 }, kept.narration)),
      field(id("generation_prompt"), "Picture", el("textarea", { id: id("generation_prompt"), "data-name": "generation_prompt", rows: 2 }, kept.generation_prompt)),
      field(id("duration"), "Seconds", el("input", { type: "number", id: id("duration"), "data-name": "duration", min: "1", max: "60", step: "0.5", value: kept.duration })),
      field(id("media"), "Media (your upload, instead of a generated picture)",
        el("select", { id: id("media"), "data-name": "media", "data-uploads": "" }, pickerOptions(""))),
      shotFields(id, kept, open),
      blocks.length > 1 ? el("button", { type: "button", class: "danger", "aria-label": `Remove scene ${i + 1}`,
        onclick: () => { block.remove(); renumberScenes(scenes, values, null); } }, "Remove") : null);
    block.querySelector("[data-name=media]").value = kept.media || "";
  });
}

// The shot of one scene: selects for the camera and the look, texts for where and what.
function shotFields(id, kept, open) {
  const selects = Object.entries(SHOT).map(([name, [label, values]]) => {
    const control = select(id(name), label, ["", ...values], kept[name] || "");
    control.querySelector("select").dataset.name = name;
    return control;
  });
  const texts = Object.entries(SHOT_TEXT).map(([name, [label, max]]) =>
    field(id(name), label, el("input", { type: "text", id: id(name), "data-name": name, maxlength: String(max), value: kept[name] || "" })));
  return el("details", { class: "shot", open },
    el("summary", { text: "Shot: camera, light, mood (optional)" }),
    el("div", { class: "grid3" }, selects),
    el("div", { class: "grid3" }, texts));
}

function scriptOf(form) {
  const scenes = [...form.querySelectorAll("#script-scenes [data-scene]")].map((block) => {
    const read = (name) => block.querySelector(`[data-name=${name}]`).value;
    const seconds = Number(read("duration"));
    const scene = {
      narration: read("narration").trim(),
      generation_prompt: read("generation_prompt").trim(),
      duration: Number.isNaN(seconds) ? read("duration") : seconds,
    };
    for (const name of [...Object.keys(SHOT), ...Object.keys(SHOT_TEXT)]) {
      if (read(name).trim()) scene[name] = read(name).trim();
    }
    if (read("media")) {
      scene.media = read("media");
      // the picture is the upload: its description only guides the look of what is around it
      const upload = uploads.get(scene.media);
      if (!scene.generation_prompt) scene.generation_prompt = `The user's own ${upload?.kind || "media"} ${upload?.filename || scene.media}, shown full frame as the picture of this scene`;
    }
    return scene;
  });
  return { title: form.querySelector("#script-title").value.trim(), scenes };
}

function requestOf(form) {
  const value = (name) => form.elements[name].value.trim();
  const own = form.elements["own-script"].checked;
  const body = {
    aspect_ratio: value("aspect_ratio"),
    review: form.elements.review.checked,
  };
  if (value("prompt") || !own) body.prompt = value("prompt");
  if (!own) body.duration = /^\d+$/.test(value("duration")) ? Number(value("duration")) : value("duration");
  if (own) body.script = scriptOf(form);
  for (const name of ["title", "style", "tone", "tempo", "platform", "goal", "audience",
    "call_to_action", "voice", "language", "continuity", "start_image", "style_reference_image", "music_track"]) {
    if (value(name)) body[name] = value(name);
  }
  if (value("speech_rate")) {
    const rate = Number(value("speech_rate"));
    body.speech_rate = Number.isNaN(rate) ? value("speech_rate") : rate;
  }
  if (value("captions_mode")) {
    body.captions = {
      mode: value("captions_mode"),
      style: value("captions_style"),
      position: value("captions_position"),
    };
  }
  if (value("music_mood")) body.music = { mood: value("music_mood") };
  return body;
}

// The API names a field like `captions.mode` or `script.scenes[2].narration`: shown next to
// the control of that name (or the form's own message when no control matches).
const FIELD_CONTROLS = { captions: "captions_mode", "captions.mode": "captions_mode",
  "captions.style": "captions_style", "captions.position": "captions_position",
  music: "music_mood", "music.mood": "music_mood" };

function showFieldError(form, fieldName, message) {
  for (const node of form.querySelectorAll(".error")) node.textContent = "";
  for (const node of form.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
  // `script.scenes[2].narration` -> the control `script-scenes-2-narration`
  const id = FIELD_CONTROLS[fieldName] || (fieldName || "").replace(/\[(\d+)\]/g, "-$1").replaceAll(".", "-");
  const control = id && form.querySelector(`#${CSS.escape(id)}`);
  const slot = control && form.querySelector(`#${CSS.escape(id)}-error`);
  if (slot) {
    const folded = control.closest("details");
    if (folded) folded.open = true;
    slot.textContent = message;
    control.setAttribute("aria-invalid", "true");
    // the message goes once the person changes what it is about
    const clear = () => { slot.textContent = ""; control.removeAttribute("aria-invalid"); };
    control.addEventListener("input", clear, { once: true });
    control.addEventListener("change", clear, { once: true });
    control.focus();
  } else {
    form.querySelector("#form-error").textContent = message;
  }
}

async function submitNew(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const button = form.querySelector("#submit");
  button.disabled = true;
  try {
    const { data } = await api("/v1/jobs", { method: "POST", body: requestOf(form) });
    location.hash = `#/job/${data.job_id}`;
  } catch (error) {
    if (error.status !== 401) showFieldError(form, error.field, error.message);
  } finally {
    button.disabled = false;
  }
}

// -- my videos --------------------------------------------------------------------------------

async function videosPage(params) {
  const status = params.get("status") || "";
  const cursors = (params.get("after") || "").split(",").filter(Boolean);
  const filter = select("status-filter", "Status", OPTIONS.status, status);
  filter.querySelector("select").addEventListener("change", (event) => {
    const chosen = event.target.value;
    location.hash = chosen ? `#/videos?status=${chosen}` : "#/videos";
  });
  const list = el("ul", { class: "jobs", id: "jobs" });
  const pager = el("div", { class: "actions" });
  show("My videos", el("div", { class: "filters" }, filter,
    el("a", { class: "button", href: "#/new" }, "New video")), list, pager);
  let query = `/v1/jobs?limit=10${status ? `&status=${status}` : ""}`;
  if (cursors.length) query += `&cursor=${encodeURIComponent(cursors[cursors.length - 1])}`;
  let page;
  try {
    ({ data: page } = await api(query));
  } catch (error) {
    if (error.status !== 401) list.replaceWith(problem(error.message));
    return;
  }
  if (!page.jobs.length) list.append(el("li", { class: "muted", text: "No videos here yet." }));
  for (const job of page.jobs) list.append(jobRow(job));
  const base = `#/videos?${status ? `status=${status}&` : ""}`;
  if (cursors.length) {
    const back = cursors.slice(0, -1).join(",");
    pager.append(el("a", { class: "button secondary", href: back ? `${base}after=${back}` : base.replace(/[?&]$/, "") }, "Newer"));
  }
  if (page.next_cursor) {
    const next = [...cursors, page.next_cursor].map(encodeURIComponent).join(",");
    pager.append(el("a", { class: "button secondary", id: "older", href: `${base}after=${next}` }, "Older"));
  }
}

function jobRow(job) {
  const thumb = el("div", { class: "thumb", role: "img", "aria-label": "no thumbnail yet" });
  const finished = job.status === "completed" || job.status === "failed";
  const name = job.title || job.prompt.slice(0, 80);
  const row = el(
    "li",
    { class: "job", "data-job": job.job_id },
    thumb,
    el("div", {},
      el("a", { href: `#/job/${job.job_id}` }, name),
      el("div", { class: "muted" },
        el("span", { class: `badge ${job.status}`, text: job.status }),
        ` ${job.progress}% · ${job.duration} s · ${job.aspect_ratio} · ${when(job.created_at)}`)),
    el("div", { class: "actions" },
      finished
        ? el("button", { type: "button", class: "danger", "aria-label": `Delete ${name}`, onclick: () => removeJob(job, "Delete") }, "Delete")
        : el("button", { type: "button", class: "secondary", "aria-label": `Cancel ${name}`, onclick: () => removeJob(job, "Cancel") }, "Cancel")),
  );
  if (job.status === "completed") loadThumb(job.job_id, thumb);
  return row;
}

async function loadThumb(jobId, slot) {
  try {
    const { data } = await api(`/v1/jobs/${jobId}`);
    if (data.thumbnail_url) {
      slot.replaceWith(el("img", { class: "thumb", src: data.thumbnail_url, alt: `poster of ${data.title || "the video"}` }));
    }
  } catch {
    // the row still shows the job; the thumbnail is a nicety
  }
}

async function removeJob(job, verb) {
  if (!confirm(`${verb} this video?`)) return;
  try {
    await api(`/v1/jobs/${job.job_id}`, { method: "DELETE" });
    announce(verb === "Cancel" ? "Cancelled." : "Deleted.");
    route();
  } catch (error) {
    announce(error.message);
  }
}

// -- one video --------------------------------------------------------------------------------

const STEPS = [
  ["queued", "Queued"], ["script", "Script"], ["review", "Review"], ["scenes", "Scenes"],
  ["audio", "Narration"], ["composing", "Composing"], ["completed", "Done"],
];

function stepOf(stage) {
  if (stage === "queued") return "queued";
  if (stage.startsWith("script_generating") || stage === "script_complete") return "script";
  if (stage === "awaiting_review" || stage === "script_approved") return "review";
  if (stage.startsWith("scene_")) return "scenes";
  if (stage.startsWith("audio_")) return "audio";
  return stage;
}

function jobPage(jobId) {
  const controller = new AbortController();
  let timer = null;
  leave = () => {
    controller.abort();
    clearTimeout(timer);
  };
  scenePictures.clear();
  const view = el("div", { id: "job-view" }, el("p", { class: "muted", text: "Loading…" }));
  show("Video", view);
  let last = null;
  let editing = false;

  const refresh = async () => {
    try {
      const { data } = await api(`/v1/jobs/${jobId}`, { signal: controller.signal });
      const changed = !last || last.updated_at !== data.updated_at || last.version !== data.version;
      last = data;
      if (changed && !editing) render(data);
      return data;
    } catch (error) {
      if (error.name !== "AbortError" && error.status !== 401) view.replaceChildren(problem(error.message));
      return null;
    }
  };

  const render = (job) => {
    document.title = `${job.title || "Video"} · omnigen`;
    main.querySelector("h1").textContent = job.title || "Video";
    view.replaceChildren(...[
      progressSection(job),
      job.stage === "awaiting_review" ? reviewSection(job, (on) => { editing = on; }, acted) : null,
      job.status === "completed" ? playerSection(job) : null,
      job.scenes && job.status === "completed" ? regenerateSection(job, acted) : null,
      versionsSection(job),
      el("h2", { text: "Request" }),
      el("p", { class: "muted", text: job.prompt }),
    ].filter(Boolean));
  };

  const follow = async () => {
    // fetch-based SSE: the header carries the token; each event triggers a fresh read
    while (!controller.signal.aborted) {
      const job = last || (await refresh());
      if (!job) return;
      if (job.status === "completed" || job.status === "failed") {
        if (job.stage !== "awaiting_review") {
          await waitForNewVersion();
          continue;
        }
      }
      try {
        const response = await fetch(`/v1/jobs/${jobId}/events`, {
          headers: { Authorization: `Bearer ${session.token}`, Accept: "text/event-stream" },
          signal: controller.signal,
        });
        if (!response.ok) throw new ApiError(response.status, await safeJson(response));
        await readEvents(response.body, async (name) => {
          if (name !== "reconnect") await refresh();
        });
        await refresh();
      } catch (error) {
        if (error.name === "AbortError") return;
        await pause(3000);
        await refresh();
      }
      if (last && last.stage === "awaiting_review") await waitForNewVersion();
    }
  };

  // a finished job (or one awaiting review) changes only when its owner acts: the page's
  // own actions call `wake` (no polling of a job that does not move)
  let wake = () => {};
  const waitForNewVersion = () => new Promise((resolve) => {
    wake = resolve;
    controller.signal.addEventListener("abort", resolve, { once: true });
  });
  const acted = async () => {
    await refresh();
    wake();
  };

  const pause = (ms) => new Promise((resolve) => { timer = setTimeout(resolve, ms); });
  refresh().then((job) => job && follow()); // no such job (or not yours): nothing to follow
}

async function readEvents(stream, onEvent) {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const name = block.split("\n").find((line) => line.startsWith("event:"));
      if (name) await onEvent(name.slice(6).trim());
    }
  }
}

function progressSection(job) {
  const current = stepOf(job.stage);
  const index = STEPS.findIndex(([key]) => key === current);
  const steps = STEPS.filter(([key]) => key !== "review" || job.stage === "awaiting_review" || job.options?.review)
    .map(([key, label]) => {
      const at = STEPS.findIndex(([k]) => k === key);
      const state = job.status === "completed" || at < index ? "done" : at === index ? "current" : "";
      return el("li", { class: state, "aria-current": state === "current" ? "step" : null }, label);
    });
  const scenes = job.render ? el("ul", { class: "scenes", "aria-label": "scenes" },
    job.render.scenes.map((s) => el("li", { class: s.state, "data-scene-number": String(s.scene_number) },
      scenePicture(job.render.version, s),
      el("span", { text: `Scene ${s.scene_number}: ${s.state}` }))),
    el("li", { class: job.render.audio.state }, `Narration: ${job.render.audio.state}`)) : null;
  const eta = job.estimated_completion_seconds;
  return el("section", { "aria-label": "progress" },
    el("p", {},
      el("span", { class: `badge ${job.status}`, id: "job-status", text: job.status }),
      job.stage !== job.status ? ` ${job.stage.replaceAll("_", " ")}` : "",
      eta ? ` · about ${eta} s left` : "",
      job.version > 1 ? ` · version ${job.version}` : ""),
    el("progress", { max: "100", value: String(job.progress), "aria-label": "progress" }, `${job.progress}%`),
    el("ul", { class: "stages", "aria-label": "stages" }, steps),
    scenes,
    job.error_message ? problem(job.error_message) : null);
}

// A finished scene's picture (its keyframe image, or its clip as a muted still): the element
// is kept across the page's redraws (each read of the job presigns a new link; reusing the
// element keeps the picture from loading again and flickering).
const scenePictures = new Map(); // "version:scene:kind" -> element, for the job on screen

function scenePicture(version, scene) {
  if (!scene.picture_url) return el("span", { class: "scene-picture empty", "aria-hidden": "true" });
  const name = `${version}:${scene.scene_number}:${scene.picture_kind}`;
  let picture = scenePictures.get(name);
  if (!picture) {
    const label = `scene ${scene.scene_number} picture`;
    picture = scene.picture_kind === "image"
      ? el("img", { class: "scene-picture", src: scene.picture_url, alt: label })
      // #t=0.1: the browser shows a frame from inside the clip rather than a blank first one
      : el("video", { class: "scene-picture", src: `${scene.picture_url}#t=0.1`, muted: true,
        preload: "metadata", playsinline: true, "aria-label": label, tabindex: "-1" });
    if (picture.tagName === "VIDEO") picture.muted = true;
    scenePictures.set(name, picture);
  }
  return picture;
}

function playerSection(job) {
  if (!job.video_url) return null;
  const video = el("video", { id: "player", controls: true, preload: "metadata", src: job.video_url,
    poster: job.thumbnail_url || null, "aria-label": "the video" });
  const downloads = el("p", { class: "actions" },
    el("a", { class: "button", id: "download-video", href: job.video_url, download: "omnigen.mp4" }, "Download video"));
  if (job.captions) {
    downloads.append(
      el("a", { class: "button secondary", id: "download-srt", href: job.captions.srt_url, download: "captions.srt" }, "Captions (SRT)"),
      el("a", { class: "button secondary", id: "download-vtt", href: job.captions.vtt_url, download: "captions.vtt" }, "Captions (WebVTT)"));
  }
  return el("section", { "aria-label": "player" }, el("h2", { text: "Video" }), video, downloads);
}

function versionsSection(job) {
  if (!job.versions || job.versions.length < 2) return null;
  const rows = job.versions.map((v) => el("tr", {},
    el("td", { text: `v${v.version}${v.version === job.version ? " (newest)" : ""}` }),
    el("td", { text: v.status }),
    el("td", { text: v.scene_number ? `scene ${v.scene_number} regenerated` : "first render" }),
    el("td", { text: v.duration ? `${v.duration.toFixed(1)} s` : "" }),
    el("td", {}, v.video_url
      ? el("a", { href: v.video_url, download: `omnigen-v${v.version}.mp4`, "aria-label": `Download version ${v.version}` }, "Download")
      : "")));
  return el("section", { "aria-label": "versions" }, el("h2", { text: "Versions" }),
    el("div", { class: "table-wrap" }, el("table", {}, el("thead", {}, el("tr", {}, ["Version", "Status", "Change", "Length", ""].map((h) => el("th", { scope: "col", text: h })))),
      el("tbody", {}, rows))));
}

function regenerateSection(job, refresh) {
  const number = el("select", { id: "regen-scene", name: "regen-scene" },
    job.scenes.map((s) => el("option", { value: String(s.scene_number) }, `Scene ${s.scene_number}`)));
  const narration = el("textarea", { id: "regen-narration", name: "regen-narration", rows: 2 });
  const visual = el("textarea", { id: "regen-generation_prompt", name: "regen-generation_prompt", rows: 2 });
  const fillFrom = () => {
    const scene = job.scenes.find((s) => String(s.scene_number) === number.value);
    narration.value = scene?.narration || "";
    visual.value = scene?.generation_prompt || "";
  };
  const shot = Object.fromEntries(["shot_type", "camera_angle", "camera_move"].map((name) =>
    [name, el("select", { id: `regen-${name}`, name: `regen-${name}` },
      SHOT[name][1].map((v) => el("option", { value: v }, labelOf(v))))]));
  const seconds = el("input", { type: "number", id: "regen-duration", name: "regen-duration", min: "0.5", max: "60", step: "any" });
  const fillShot = () => {
    const scene = job.scenes.find((s) => String(s.scene_number) === number.value);
    for (const [name, control] of Object.entries(shot)) control.value = scene?.[name] || "";
    seconds.value = scene ? String(scene.duration) : "";
  };
  number.addEventListener("change", fillFrom);
  number.addEventListener("change", fillShot);
  fillFrom();
  fillShot();
  const form = el("form", {
    id: "regenerate",
    novalidate: true,
    onsubmit: async (event) => {
      event.preventDefault();
      const scene = job.scenes.find((s) => String(s.scene_number) === number.value);
      const changes = {};
      if (narration.value !== (scene?.narration || "")) changes.narration = narration.value;
      if (visual.value.trim() && visual.value !== scene?.generation_prompt) changes.generation_prompt = visual.value;
      for (const [name, control] of Object.entries(shot)) {
        if (control.value && control.value !== scene?.[name]) changes[name] = control.value;
      }
      if (seconds.value !== String(scene?.duration ?? "")) {
        const n = Number(seconds.value);
        changes.duration = seconds.value === "" || Number.isNaN(n) ? seconds.value : n;
      }
      try {
        await api(`/v1/jobs/${job.job_id}/scenes/${number.value}/regenerate`, { method: "POST", body: changes });
        announce("A new version is being made.");
        await refresh();
      } catch (error) {
        if (error.status !== 401) showFieldError(form, error.field ? `regen-${error.field}` : null, error.message);
      }
    },
  },
  field("regen-scene", "Scene", number),
  field("regen-narration", "Narration", narration),
  field("regen-generation_prompt", "Picture (what the clip shows)", visual),
  el("div", { class: "grid" },
    field("regen-shot_type", SHOT.shot_type[0], shot.shot_type),
    field("regen-camera_angle", SHOT.camera_angle[0], shot.camera_angle),
    field("regen-camera_move", SHOT.camera_move[0], shot.camera_move),
    field("regen-duration", "Seconds", seconds)),
  el("div", { class: "error", id: "form-error", role: "alert" }),
  el("button", { type: "submit" }, "Regenerate this scene"));
  return el("section", { "aria-label": "regenerate a scene" },
    el("h2", { text: "Regenerate a scene" }), form);
}

function reviewSection(job, setEditing, refresh) {
  const section = el("section", { "aria-label": "review the script" },
    el("h2", { text: "Review the script" }), el("p", { class: "muted", text: "Loading the script…" }));
  (async () => {
    let etag;
    let script;
    try {
      const { data, response } = await api(`/v1/jobs/${job.job_id}/script`);
      etag = response.headers.get("ETag");
      script = data.script;
    } catch (error) {
      section.append(problem(error.message));
      return;
    }
    const title = el("input", { type: "text", id: "script-title", name: "script-title", value: script.title });
    const scenes = script.scenes.map((scene, i) => el("div", { class: "scene-edit" },
      el("h3", { text: `Scene ${i + 1}` }),
      field(`script-scenes-${i}-narration`, "Narration",
        el("textarea", { id: `script-scenes-${i}-narration`, rows: 2, onfocus: () => setEditing(true) }, scene.narration)),
      field(`script-scenes-${i}-generation_prompt`, "Picture",
        el("textarea", { id: `script-scenes-${i}-generation_prompt`, rows: 2, onfocus: () => setEditing(true) }, scene.generation_prompt))));
    const form = el("form", {
      id: "review",
      onsubmit: async (event) => {
        event.preventDefault();
        const edited = structuredClone(script);
        edited.title = title.value;
        edited.scenes.forEach((scene, i) => {
          scene.narration = form.querySelector(`#script-scenes-${i}-narration`).value;
          scene.generation_prompt = form.querySelector(`#script-scenes-${i}-generation_prompt`).value;
        });
        try {
          const { response } = await api(`/v1/jobs/${job.job_id}/script`, {
            method: "PUT", body: { script: edited }, headers: { "If-Match": etag } });
          etag = response.headers.get("ETag");
          await api(`/v1/jobs/${job.job_id}/render`, { method: "POST" });
          setEditing(false);
          announce("Rendering.");
          await refresh();
        } catch (error) {
          if (error.status === 401) return;
          const id = (error.field || "").replace(/\[(\d+)\]/g, "-$1").replaceAll(".", "-");
          showFieldError(form, id || null, error.message);
        }
      },
    },
    field("script-title", "Title", title),
    scenes,
    el("div", { class: "error", id: "form-error", role: "alert" }),
    el("button", { type: "submit" }, "Save and render"));
    section.replaceChildren(el("h2", { text: "Review the script" }), form);
  })();
  return section;
}

// -- routing ----------------------------------------------------------------------------------

async function route() {
  leave();
  leave = () => {};
  if (authConfig.hosted && new URLSearchParams(location.search).has("state")) {
    const failure = await finishHostedSignIn(authConfig.hosted);
    if (failure) {
      sessionStorage.removeItem(HOSTED_KEY);
      return signInPage(failure);
    }
    return; // finishing set the hash back to the route before the redirect: hashchange routes
  }
  const hash = location.hash || "#/";
  if (hash.startsWith("#signin=")) {
    const code = decodeURIComponent(hash.slice("#signin=".length));
    history.replaceState(null, "", location.pathname); // the code leaves the address bar
    const failure = await exchange(code);
    if (failure) return signInPage(failure);
    location.hash = "#/videos";
    return;
  }
  if (!session.token && sessionStorage.getItem(RESUME_KEY)) { // a reload, on the local stack
    const code = sessionStorage.getItem(RESUME_KEY);
    sessionStorage.removeItem(RESUME_KEY);
    if (await exchange(code)) return signInPage("Your sign-in ended; sign in again.");
  }
  if (!session.token && authConfig.hosted && sessionStorage.getItem(HOSTED_KEY)) {
    return startHostedSignIn(authConfig.hosted); // a reload: silent with the provider's cookie
  }
  if (!session.token) return signInPage();
  nav.hidden = false;
  const [path, query] = hash.slice(1).split("?");
  const params = new URLSearchParams(query || "");
  if (path === "/new") return newVideoPage();
  const job = path.match(/^\/job\/([0-9a-f]{32})$/);
  if (job) return jobPage(job[1]);
  return videosPage(params);
}

async function loadAuthConfig() {
  try {
    return (await api("/v1/auth/config")).data;
  } catch {
    return { local_signin: false, hosted: null };
  }
}

const authConfig = await loadAuthConfig();
document.getElementById("signout").addEventListener("click", () => signOut("Signed out."));
window.addEventListener("hashchange", route);
route();
