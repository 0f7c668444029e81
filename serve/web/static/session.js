// The page's session: the access token lives in this module's memory only; the refresh
// token is an HttpOnly cookie that only /auth/* ever sees. Every page restores the
// session once on load and refreshes a minute before the token expires.
const JSON_POST = { method: "POST", headers: { "content-type": "application/json" } };
let access = null;
let timer = null;
let restoring = null;
const listeners = new Set();

export const session = { user: null };

function schedule(expiresIn) {
  clearTimeout(timer);
  // A minute early, or half-way for short-lived tokens.
  const lead = Math.min(60, expiresIn / 2);
  timer = setTimeout(() => { refresh().catch(() => {}); }, (expiresIn - lead) * 1000);
}

function accept(body) {
  access = body ? body.accessToken : null;
  session.user = body ? body.user : null;
  if (body) schedule(body.expiresIn); else clearTimeout(timer);
  listeners.forEach((listener) => listener(session.user));
  return session.user;
}

async function post(path, body, token) {
  const init = { ...JSON_POST, body: JSON.stringify(body || {}), credentials: "same-origin" };
  if (token) init.headers = { ...init.headers, authorization: `Bearer ${token}` };
  const answer = await fetch(path, init);
  const data = await answer.json().catch(() => ({}));
  if (!answer.ok) throw new Error(data.error || `${path} answered ${answer.status}`);
  return data;
}

async function refresh() {
  try {
    const body = await post("/auth/refresh");
    return accept(body.accessToken ? body : null);
  } catch {
    return accept(null);
  }
}

/** Restore the session from the cookie (once per page); resolves to the user or null. */
export function restore() {
  restoring = restoring || refresh();
  return restoring;
}

/** Calls `listener(user)` now (once restored) and whenever the user changes. */
export function onUser(listener) {
  restore().then(() => {
    listeners.add(listener);
    listener(session.user);
  });
}

/** Sign in with `{email|phone, code}` or `{identifier, password}`. */
export async function signIn(credentials) {
  restoring = Promise.resolve(null);
  return accept(await post("/auth/session", credentials));
}

export async function signOut({ everywhere = false } = {}) {
  await restore();
  try {
    await post("/auth/signout", { everywhere }, access);
  } finally {
    accept(null);
  }
}

export async function token() {
  await restore();
  return access;
}

export class GraphQLError extends Error {
  constructor(errors) {
    super(errors.map((e) => e.message).join("; "));
    this.code = errors[0] && errors[0].extensions ? errors[0].extensions.code : null;
  }
}

/** POST one GraphQL operation; resolves to its data, rejects with a GraphQLError. */
export async function gql(query, variables = {}) {
  const headers = { "content-type": "application/json" };
  const bearer = await token();
  if (bearer) headers.authorization = `Bearer ${bearer}`;
  const answer = await fetch("/graphql", {
    method: "POST", headers, body: JSON.stringify({ query, variables }),
  });
  const body = await answer.json().catch(() => ({ errors: [{ message: `HTTP ${answer.status}` }] }));
  if (body.errors && body.errors.length) throw new GraphQLError(body.errors);
  return body.data;
}

/** A GraphQL subscription over graphql-transport-ws; `onData(data)` per event.
 * Returns a function that stops it. */
export function subscribe(query, variables, { onData, onDone = () => {}, onError = () => {} }) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/graphql`, "graphql-transport-ws");
  let done = false;
  const finish = (error) => {
    if (done) return;
    done = true;
    if (error) onError(error); else onDone();
    socket.close();
  };
  socket.addEventListener("open", async () => {
    const bearer = await token();
    const payload = bearer ? { Authorization: `Bearer ${bearer}` } : {};
    socket.send(JSON.stringify({ type: "connection_init", payload }));
  });
  socket.addEventListener("message", (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "connection_ack") {
      socket.send(JSON.stringify({ id: "1", type: "subscribe", payload: { query, variables } }));
    } else if (message.type === "next") {
      if (message.payload.errors) finish(new GraphQLError(message.payload.errors));
      else onData(message.payload.data);
    } else if (message.type === "error") {
      finish(new GraphQLError(message.payload));
    } else if (message.type === "complete") {
      finish(null);
    } else if (message.type === "ping") {
      socket.send(JSON.stringify({ type: "pong" }));
    }
  });
  socket.addEventListener("close", () => finish(null));
  return () => finish(null);
}
