// Sends the form as JSON and shows how long the server took to answer.
// Without JavaScript the form still posts, and the browser shows the JSON answer.
"use strict";

const form = document.getElementById("hello-form");
const answers = document.getElementById("answers");

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const submitter = event.submitter || form.querySelector("button");
  const url = submitter.getAttribute("formaction") || form.action;
  const fields = Object.fromEntries(new FormData(form));
  const body = JSON.stringify({ ...fields, duration: Number(fields.duration) });
  const item = document.createElement("li");
  item.textContent = `POST ${new URL(url).pathname} … waiting`;
  answers.prepend(item);
  const started = performance.now();
  try {
    const response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body,
    });
    const seconds = ((performance.now() - started) / 1000).toFixed(2);
    item.textContent = `POST ${new URL(url).pathname} answered ${response.status} in ${seconds} s: ${await response.text()}`;
  } catch (error) {
    item.textContent = `POST ${new URL(url).pathname} failed: ${error}`;
  }
});
