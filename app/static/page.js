// The page's live parts, in plain JavaScript (no build step):
// - each click adds a row, which follows its task through GET /tasks/<id>
//   every 500 ms until the task ends;
// - the panel asks GET /status every second for hello_queue's counts and the
//   states of supervisord's programs.
// Without JavaScript the form still posts, and the browser shows the JSON answer.
"use strict";

const TASK_POLL_MS = 500;
const STATUS_POLL_MS = 1000;
// Celery's READY_STATES: after these a task's state never changes again.
const FINAL_STATES = new Set(["SUCCESS", "FAILURE", "REVOKED"]);

const form = document.getElementById("hello-form");
const tasks = document.getElementById("tasks");
const announcer = document.getElementById("announcer");

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// A row: what was asked, then a state badge, a progress bar and the details.
function addRow(fields) {
  const row = element("li", "task");
  const what = `${fields.greeting}, ${fields.name} (${fields.duration} s` +
    (Number(fields.fail_times) > 0 ? `, ${fields.fail_times} failing attempts` : "") +
    (fields.poison ? ", poison)" : ")");
  row.append(
    element("span", "what", what),
    element("span", "state", "SENDING"),
    element("progress", "progress"),
    element("span", "detail", ""),
  );
  row.dataset.state = "SENDING";
  row.querySelector("progress").max = 1;
  row.querySelector("progress").value = 0;
  tasks.prepend(row);
  return row;
}

function show(row, state, detail) {
  row.dataset.state = state;
  row.querySelector(".state").textContent = state;
  row.querySelector(".detail").textContent = detail;
}

function describe(task) {
  const parts = [];
  if (task.retries !== null) parts.push(`retries ${task.retries}`);
  if (task.progress) parts.push(`${task.progress.current} of ${task.progress.total} s`);
  if (task.result) {
    parts.push(task.result.greeting, `by ${task.result.hostname}`, `routing key ${task.result.routing_key}`);
  }
  if (task.error) parts.push(task.error);
  parts.push(`task id ${task.id}`);
  return parts.join(" · ");
}

async function follow(row, taskId) {
  let task;
  try {
    const response = await fetch(`/tasks/${taskId}`);
    task = await response.json();
    if (response.status === 400 || response.status === 404) {
      show(row, "UNKNOWN", `GET /tasks/${taskId} answered ${response.status}: ${task.error}`);
      return; // asking again would get the same answer
    }
    if (!response.ok) throw new Error(`GET /tasks/${taskId} answered ${response.status}: ${task.error}`);
  } catch (error) {
    // The web app or Redis may be back in a moment (a 503, a restart): keep asking.
    row.querySelector(".detail").textContent = `could not ask for the task's state (${error}); trying again`;
    setTimeout(follow, TASK_POLL_MS, row, taskId);
    return;
  }
  show(row, task.state, describe(task));
  const bar = row.querySelector("progress");
  if (task.progress) {
    bar.max = task.progress.total;
    bar.value = task.progress.current;
  } else if (task.state === "SUCCESS") {
    bar.value = bar.max;
  }
  if (FINAL_STATES.has(task.state)) {
    announcer.textContent = `${row.querySelector(".what").textContent}: ${task.state}`;
  } else {
    setTimeout(follow, TASK_POLL_MS, row, taskId);
  }
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const submitter = event.submitter || form.querySelector("button");
  const path = submitter.getAttribute("formaction") || form.getAttribute("action");
  const fields = Object.fromEntries(new FormData(form));
  const row = addRow(fields);
  const body = JSON.stringify({
    ...fields,
    duration: Number(fields.duration),
    fail_times: Number(fields.fail_times),
    // A checkbox is in the form's data only when ticked ("on").
    poison: fields.poison === "on",
  });
  const started = performance.now();
  try {
    const response = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" }, body });
    const seconds = ((performance.now() - started) / 1000).toFixed(2);
    const answer = await response.json();
    if (response.status === 202) {
      // SENT is the page's own word: the message is in RabbitMQ. From now on
      // the row shows the states that GET /tasks/<id> reports.
      row.dataset.taskId = answer.task_id;
      show(row, "SENT", `POST ${path} answered 202 in ${seconds} s · task id ${answer.task_id}`);
      follow(row, answer.task_id);
    } else if (response.ok) {
      // The blocking route: the answer came after the work was done.
      show(row, "DONE INLINE", `POST ${path} answered ${response.status} in ${seconds} s: ${answer.greeting}`);
      row.querySelector("progress").value = 1;
    } else {
      // A 503 during a resource alarm carries its task id: the web app claimed that
      // task as abandoned, and no worker will run it (app/publish.py).
      const id = answer.task_id ? ` · task id ${answer.task_id}` : "";
      show(row, "REFUSED", `POST ${path} answered ${response.status} in ${seconds} s: ${answer.error}${id}`);
    }
  } catch (error) {
    show(row, "REFUSED", `POST ${path} failed: ${error}`);
  }
});

async function refreshStatus() {
  const problem = document.getElementById("status-error");
  try {
    const response = await fetch("/status");
    const status = await response.json();
    if (!response.ok) throw new Error(`GET /status answered ${response.status}: ${status.error}`);
    const queue = status.queue;
    document.getElementById("queue-ready").textContent = queue.ready;
    document.getElementById("queue-unacked").textContent = queue.unacked ?? "?";
    document.getElementById("queue-consumers").textContent = queue.consumers;
    const programs = document.getElementById("programs");
    programs.replaceChildren(
      ...Object.entries(status.programs ?? {}).map(([name, state]) => {
        const item = element("li", "program");
        item.dataset.program = name;
        item.dataset.state = state;
        item.append(element("span", "name", name), " ", element("span", "state", state));
        return item;
      }),
    );
    // RabbitMQ's resource alarm (app/alarms.py): publishers blocked, consumers not.
    const alarm = document.getElementById("alarm");
    alarm.hidden = !status.alarm;
    if (status.alarm) {
      alarm.textContent = `RabbitMQ's ${status.alarm.resource} alarm is on (node ${status.alarm.node}, `
        + `seen since ${status.alarm.since}): clicks are refused, the worker drains hello_queue.`;
    }
    // A quorum hello_queue without its majority (app/majority.py): it takes no message.
    const quorum = document.getElementById("quorum");
    quorum.hidden = !status.quorum;
    if (status.quorum) {
      quorum.textContent = `hello_queue has ${status.quorum.online.length} of its ${status.quorum.members.length} `
        + `members online (${status.quorum.online.join(", ") || "none"}), no majority: clicks are refused `
        + "until enough of RabbitMQ's nodes are back.";
    }
    problem.hidden = true;
  } catch (error) {
    problem.textContent = `${error}`;
    problem.hidden = false;
  }
  setTimeout(refreshStatus, STATUS_POLL_MS);
}

refreshStatus();
