// A test-only OpenID Connect provider (the npm package oidc-provider) on loopback.
// Usage: node provider.mjs CONFIG.json — CONFIG holds {port, issuer, clients: [...], users: {login: claims}}.
// Sign-in uses the package's development pages: the login is the account's name, any password works.
import { readFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));

const provider = new Provider(config.issuer, {
  clients: config.clients,
  claims: { openid: ['sub'], email: ['email', 'email_verified'], groups: ['groups'] },
  scopes: ['openid', 'email', 'groups'],
  cookies: { keys: ['llmaas-test-provider-cookie-key'] },
  features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
  findAccount: (ctx, id) => {
    const claims = config.users[id];
    if (!claims) return undefined;
    return { accountId: id, claims: () => ({ sub: id, email_verified: true, ...claims }) };
  },
  // Every claim in the ID token: the console reads e-mail and groups from it, not from userinfo.
  conformIdTokenClaims: false,
});
provider.listen(config.port, '127.0.0.1', () => console.log(`listening ${config.issuer}`));
