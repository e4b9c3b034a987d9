// A camera's live view, read with fetch and shown frame by frame, opened again when it ends.
//
// An <img> pointed at the multipart stream fires `load` at the first frame and nothing after: when
// the stream ended (the gateway restarted, a proxy or the network cut it) the picture froze on its
// last frame, or went blank, with no event to tell, and stayed so while the numbers beside it went on
// saying "streaming". Read here, the end of the stream is seen, and the view is asked for again
// every RETRY_MS until it answers; each frame is a `load` of the <img>, so the page also sees the
// camera's shape change. Frames that arrive together are shown newest only.
//
// A view the gateway refuses (its bound on viewers reached, the camera gone after a reload) was
// asked for again every RETRY_MS in silence: the picture stayed black with nothing to say why. The
// gateway's reason is handed to `onRefused` (null again with the next frame), and the view is asked
// for again after the Retry-After the gateway gave, if longer.
//
// A view that stalls (its connection open, nothing more coming: a network or a proxy holding it, the
// gateway's encoder stuck) ends nothing either: the picture froze and looked live, the numbers
// beside it saying "streaming". The gateway writes a frame at its view's rate as long as the camera
// has a picture, so once a frame has come, STALL_MS with no byte at all is a stall: `onRefused`
// says so over the last picture, the view is asked for again, and the note goes with the next frame.
// Bytes, not frames, keep it alive, so a slow link that takes long over each frame is no stall.

const RETRY_MS = 2000;
const STALL_MS = 10000;
const STALLED = `no new picture for ${STALL_MS / 1000} s (the connection stalled); asking for it again`;
const MAX_RETRY_MS = 60000;
const MAX_HEAD_BYTES = 1024; // a part's headers are about 60 bytes; more is not our stream
const HEAD_END = [13, 10, 13, 10];

function indexOf(bytes, pattern, limit) {
  const end = Math.min(bytes.length, limit) - pattern.length;
  for (let at = 0; at <= end; at += 1) {
    let found = true;
    for (let index = 0; index < pattern.length && found; index += 1) found = bytes[at + index] === pattern[index];
    if (found) return at;
  }
  return -1;
}

// The first whole part in `bytes`: { jpeg, end }, or null while it has not all arrived.
export function nextPart(bytes) {
  const headEnd = indexOf(bytes, HEAD_END, MAX_HEAD_BYTES + HEAD_END.length);
  if (headEnd === -1) {
    if (bytes.length > MAX_HEAD_BYTES) throw new Error("the live view sent no part headers");
    return null;
  }
  const head = new TextDecoder("ascii").decode(bytes.subarray(0, headEnd));
  const length = /^content-length:\s*(\d+)\s*$/im.exec(head);
  if (!length) throw new Error("a live view frame came without its length");
  const start = headEnd + HEAD_END.length;
  const end = start + Number(length[1]);
  if (bytes.length < end + 2) return null; // the frame and the line break that ends it
  return { jpeg: bytes.slice(start, end), end: end + 2 };
}

function joined(first, second) {
  if (!first.length) return second;
  const bytes = new Uint8Array(first.length + second.length);
  bytes.set(first);
  bytes.set(second, first.length);
  return bytes;
}

// Why the gateway refused the view, from its JSON error (the status line when there is none), and
// how long it asked the page to wait.
async function refusal(response) {
  let reason = `${response.status} ${response.statusText}`.trim();
  try {
    const answer = JSON.parse(await response.text());
    if (answer && typeof answer.error === "string" && answer.error) reason = answer.error;
  } catch {
    // not our JSON (a proxy's page): the status line says enough
  }
  const seconds = Number(response.headers.get("Retry-After"));
  const waitMs = Number.isFinite(seconds) && seconds > 0 ? Math.min(seconds * 1000, MAX_RETRY_MS) : 0;
  return { reason, waitMs };
}

// Plays `url` into `image` until stop(); `image` keeps the last frame while the view is asked for
// again. `onRefused(reason)` is told why the gateway refused it, and `onRefused(null)` once it is
// served again.
export function playLive(image, url, onRefused = () => {}) {
  const controller = new AbortController();
  let stopped = false;
  let timer = null;
  let shown = null; // the object URL on screen
  let refused = false;
  let stalled = false;

  function show(jpeg) {
    const previous = shown;
    shown = URL.createObjectURL(new Blob([jpeg], { type: "image/jpeg" }));
    image.src = shown;
    if (previous) URL.revokeObjectURL(previous);
    if (stalled) {
      stalled = false;
      onRefused(null);
    }
  }

  // Reads the view until it ends; the milliseconds to wait before asking again, if more than RETRY_MS.
  async function read() {
    const connection = new AbortController(); // this one request, ended by a stall or by stop()
    const end = () => connection.abort();
    controller.signal.addEventListener("abort", end);
    let watchdog = null;
    const watch = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => {
        stalled = true;
        onRefused(STALLED);
        connection.abort();
      }, STALL_MS);
    };
    try {
      const response = await fetch(url, { signal: connection.signal, credentials: "same-origin", cache: "no-store" });
      if (!response.ok || !response.body) {
        const { reason, waitMs } = await refusal(response);
        if (stopped) return 0;
        refused = true;
        onRefused(reason);
        return waitMs;
      }
      if (refused) {
        refused = false;
        onRefused(stalled ? STALLED : null); // a stall is over with its next frame only
      }
      const reader = response.body.getReader();
      let pending = new Uint8Array(0);
      let pictured = false; // before its first frame a camera with no picture sends nothing: no stall
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return 0;
        if (pictured) watch();
        pending = joined(pending, value);
        let newest = null;
        for (let part = nextPart(pending); part; part = nextPart(pending)) {
          newest = part.jpeg;
          pending = pending.subarray(part.end);
        }
        if (newest) {
          show(newest);
          pictured = true;
          watch();
        }
      }
    } finally {
      clearTimeout(watchdog);
      controller.signal.removeEventListener("abort", end);
    }
  }

  async function run() {
    while (!stopped) {
      let waitMs = 0;
      try {
        waitMs = await read();
      } catch (error) {
        if (!stopped && !stalled) console.warn("live view ended:", error);
      }
      if (stopped) return;
      await new Promise((resolve) => {
        timer = setTimeout(resolve, Math.max(RETRY_MS, waitMs));
      });
    }
  }

  run();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
      controller.abort();
      if (shown) URL.revokeObjectURL(shown);
      shown = null;
      image.removeAttribute("src");
    },
  };
}
