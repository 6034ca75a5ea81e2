// Webhook push provider (PUSH_PROVIDER=webhook): the HMAC-SHA256 key shared with your push
// gateway goes into Key Vault, and the app reads it through a Key Vault reference resolved with
// its managed identity, like the other secrets. The gateway URL is not secret: main.bicep passes
// it to the app settings directly.
param keyVaultName string

@description('Name of the Key Vault secret that holds the key.')
param secretName string

// At least 32 characters, as the app requires (shared/push/webhook.ts): an empty or short key
// fails the deployment here instead of the app's start-up later.
@secure()
@minLength(32)
@description('HMAC-SHA256 key shared with the push gateway.')
param secret string

resource keyVault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource webhookKey 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: keyVault
  name: secretName
  properties: {
    value: secret
    contentType: 'HMAC-SHA256 key for X-MailPush-Signature'
  }
}

output name string = webhookKey.name
