// A service in JavaScript joins a callsheet crew through NATS, with the `nats` package.
//
// It submits a goal through the gatekeeper (the ingress, `<root>.in.<producer>.…`, a
// durable work queue), follows the goal's events on the log's subjects until the crew
// completes it (printing each task's result), and sends one invalid event, which the
// gatekeeper dead-letters with its reason on `<root>.dlq.<reason>`.
//
//   NATS_URL=nats://127.0.0.1:4222 node producer.mjs
//
// Environment: NATS_URL, CALLSHEET_SUBJECT_ROOT (default cs), PRODUCER (default
// billing-js), GOAL (default js-<time>), TIMEOUT_SECONDS (default 120).
import { connect, JSONCodec } from "nats";

const url = process.env.NATS_URL ?? "nats://127.0.0.1:4222";
const root = process.env.CALLSHEET_SUBJECT_ROOT ?? "cs";
const producer = process.env.PRODUCER ?? "billing-js";
const goal = process.env.GOAL ?? `js-${Date.now()}`;
const timeout = Number(process.env.TIMEOUT_SECONDS ?? "120") * 1000;

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

// A ULID: 48 bits of milliseconds, then 80 random bits, in Crockford's base 32.
function ulid() {
  let time = Date.now();
  let head = "";
  for (let i = 0; i < 10; i++) {
    head = CROCKFORD[time % 32] + head;
    time = Math.floor(time / 32);
  }
  const random = crypto.getRandomValues(new Uint8Array(16));
  let tail = "";
  for (const byte of random) tail += CROCKFORD[byte % 32];
  return head + tail;
}

// An id as one subject token, as callsheet encodes it: bytes outside [A-Za-z0-9_-] become ~XX.
function token(id) {
  let out = "";
  for (const byte of new TextEncoder().encode(id)) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9_-]/.test(c) ? c : "~" + byte.toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}

// The JSON envelope every event has (`callsheet schema` prints its JSON Schema).
function envelope(type, data, { task_id = null, causation_id = null } = {}) {
  return {
    type,
    id: ulid(),
    schema_version: 1,
    occurred_at: new Date().toISOString(),
    producer,
    correlation_id: goal,
    causation_id,
    goal_id: goal,
    task_id,
    data,
  };
}

const jc = JSONCodec();
const nc = await connect({ servers: url, name: producer });
const js = nc.jetstream();
const deadline = setTimeout(() => {
  console.error(`timed out after ${timeout / 1000} s`);
  process.exit(1);
}, timeout);

// Subscribe first, so that nothing the crew does is missed.
const events = nc.subscribe(`${root}.ev.${token(goal)}.>`);
const deadLetters = nc.subscribe(`${root}.dlq.>`);

const submitted = envelope("goal.submitted", {
  title: "Invoice run",
  description: "Fetch the month's invoices, total them, and mail the summary",
  requested_by: producer,
});
const ack = await js.publish(`${root}.in.${producer}.goal`, jc.encode(submitted), {
  msgID: submitted.id,
});
console.log(`published goal.submitted ${submitted.id} for goal ${goal} (ingress seq ${ack.seq})`);

// percent must be 0 to 100: the gatekeeper refuses this one.
const invalid = envelope("task.progress", { worker: producer, percent: 140 }, { task_id: "t1" });
const refused = await js.publish(`${root}.in.${producer}.progress`, jc.encode(invalid), {
  msgID: invalid.id,
});
console.log(`published an invalid task.progress ${invalid.id} (ingress seq ${refused.seq})`);

async function deadLettered() {
  for await (const msg of deadLetters) {
    const letter = jc.decode(msg.data);
    if (letter.ingress_seq === refused.seq) {
      console.log(`dead-lettered: ${letter.reason}: ${letter.error} (field ${letter.field})`);
      return letter;
    }
  }
}

async function followed() {
  for await (const msg of events) {
    const event = jc.decode(msg.data);
    if (event.type === "task.result") {
      console.log(`result of ${event.task_id} by ${event.producer}: ${JSON.stringify(event.data.output)}`);
    } else if (["goal.accepted", "goal.rejected", "plan.proposed"].includes(event.type)) {
      console.log(`${event.type} by ${event.producer}`);
    } else if (event.type === "goal.completed") {
      console.log(`goal.completed: ${event.data.outcome} (${event.data.summary})`);
      return event;
    } else if (event.type === "goal.rejected") {
      return event;
    }
  }
}

const [letter, end] = await Promise.all([deadLettered(), followed()]);
clearTimeout(deadline);
await nc.drain();
process.exit(letter && end?.type === "goal.completed" && end.data.outcome === "succeeded" ? 0 : 1);
