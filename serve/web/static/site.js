// Every page: the header's account area follows the session.
import { onUser, signOut } from "/static/session.js";

const account = document.getElementById("account");

function button(text, everywhere) {
  const element = document.createElement("button");
  element.type = "button";
  element.className = "link";
  element.textContent = text;
  element.addEventListener("click", async () => {
    await signOut({ everywhere });
    location.assign("/signin");
  });
  return element;
}

onUser((user) => {
  account.replaceChildren();
  if (!user) {
    const link = document.createElement("a");
    link.href = "/signin";
    link.textContent = "Sign in";
    account.append(link);
    return;
  }
  const name = document.createElement("span");
  name.className = "who";
  name.textContent = user.displayName || user.handle;
  account.append(name, button("Sign out", false), button("Sign out everywhere", true));
});
