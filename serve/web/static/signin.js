// /signin: a one-time code by email or SMS (signing up on first use), or a password.
import { gql, signIn } from "/static/session.js";

const ask = document.getElementById("ask");
const verify = document.getElementById("verify");
const message = document.getElementById("message");
let contact = null;

function parse(value) {
  const text = value.trim();
  return text.includes("@") ? { email: text } : { phone: text };
}

// Only a path on this site: `?next=//elsewhere` must not send a user away.
function next() {
  const target = new URLSearchParams(location.search).get("next") || "/studio";
  return target.startsWith("/") && !target.startsWith("//") ? target : "/studio";
}

function say(text) { message.textContent = text; }

ask.addEventListener("submit", async (event) => {
  event.preventDefault();
  contact = parse(document.getElementById("contact").value);
  say("Sending…");
  try {
    await gql(`mutation($email: String, $phone: String) {
      requestOtp(email: $email, phone: $phone) }`, contact);
  } catch (error) {
    say(error.message);
    return;
  }
  document.getElementById("sent-to").textContent = contact.email || contact.phone;
  verify.hidden = false;
  say("Code sent. It expires in a few minutes.");
  document.getElementById("code").focus();
});

verify.addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    await signIn({ ...contact, code: document.getElementById("code").value.trim() });
  } catch (error) {
    say(error.message);
    return;
  }
  location.assign(next());
});

document.getElementById("password-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    await signIn({
      identifier: document.getElementById("identifier").value.trim(),
      password: document.getElementById("password").value,
    });
  } catch (error) {
    say(error.message);
    return;
  }
  location.assign(next());
});
