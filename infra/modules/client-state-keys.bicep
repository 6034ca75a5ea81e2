// Signed clientStates (CLIENT_STATE_KEYS): the keys that sign and verify new subscriptions'
// clientState go into Key Vault, and the app reads them through a Key Vault reference resolved
// with its managed identity, like the other secrets. Deployed only when main.bicep is given keys.
param keyVaultName string

@description('Name of the Key Vault secret that holds the keys.')
param secretName string

// `<key id>:<base64 of ≥ 32 bytes>`, comma-separated; the app validates the form at start-up.
@secure()
@minLength(40)
@description('CLIENT_STATE_KEYS: `k2:<base64>,k1:<base64>` (the first signs, all verify).')
param keys string

resource keyVault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource clientStateKeys 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: keyVault
  name: secretName
  properties: {
    value: keys
    contentType: 'HMAC-SHA256 keys for signed Graph subscription clientStates'
  }
}

output name string = clientStateKeys.name
