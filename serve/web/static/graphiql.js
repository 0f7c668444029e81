// GraphiQL on this server's /graphql: queries over HTTP, subscriptions over its websocket.
const url = location.href.split(/[?#]/)[0];
const fetcher = GraphiQL.createFetcher({
  url,
  subscriptionUrl: url.replace(/^http/, "ws"),
});
ReactDOM.createRoot(document.getElementById("graphiql")).render(
  React.createElement(GraphiQL, {
    fetcher,
    defaultEditorToolsVisibility: true,
    isHeadersEditorEnabled: true,
    shouldPersistHeaders: true,
  }),
);
