// A real OpenID Connect provider for the console's browser test: panva's
// `oidc-provider` (npm) on a free loopback port, with one confidential client
// (countersign, PKCE required) and a few people with emails and groups. Its
// development login form accepts any password; the login names the person.
//
// Env: REDIRECT_URI (countersign's /console/oidc/callback), CLIENT_SECRET.
// Prints `oidc-provider listening on <issuer>` once it serves.
import http from "node:http";
import Provider from "oidc-provider";

const redirect = process.env.REDIRECT_URI;
const secret = process.env.CLIENT_SECRET;
if (!redirect || !secret) throw new Error("REDIRECT_URI and CLIENT_SECRET must be set");

// login -> claims. The demo's people, someone countersign does not know, and someone
// whose email the provider never verified (it is Maya's: it must not sign in as her).
const people = {
  maya: { email: "maya@demo.countersign", email_verified: true, name: "Maya Chen", groups: ["mlops"] },
  sam: { email: "sam@demo.countersign", email_verified: true, name: "Sam Okafor", groups: ["security"] },
  dana: { email: "dana@demo.countersign", email_verified: true, name: "Dana Whitfield", groups: ["risk"] },
  olu: { email: "olu@demo.countersign", email_verified: true, name: "Olu Adeyemi", groups: ["operations"] },
  eve: { email: "eve@elsewhere.example", email_verified: true, name: "Eve Outsider", groups: ["security"] },
  mallory: { email: "maya@demo.countersign", email_verified: false, name: "Mallory", groups: ["mlops"] },
};

const server = http.createServer();
await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: "countersign",
      client_secret: secret,
      redirect_uris: [redirect],
      response_types: ["code"],
      grant_types: ["authorization_code"],
      token_endpoint_auth_method: "client_secret_basic",
      require_auth_time: true,
    },
  ],
  pkce: { required: () => true },
  scopes: ["openid", "email", "profile", "groups"],
  claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"], groups: ["groups"] },
  // The claims in the ID token itself, as most company providers send them.
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ["countersign-test-only"] },
  async findAccount(_ctx, id) {
    const p = people[id];
    if (!p) return undefined;
    return { accountId: id, claims: async () => ({ sub: `sub-${id}`, ...p }) };
  },
  // A first-party client: no consent screen.
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope("openid email profile groups");
    grant.addOIDCClaims(["email", "email_verified", "name", "groups"]);
    await grant.save();
    return grant;
  },
});
provider.on("server_error", (_ctx, e) => console.error(`oidc-provider error: ${e.stack || e}`));
server.on("request", provider.callback());
console.log(`oidc-provider listening on ${issuer}`);

const stop = () => server.close(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
