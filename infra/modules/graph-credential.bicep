// The Graph app registration's credential, written to Key Vault from @secure() parameters so
// that `azd up` needs no manual step. Each secret is written only when its parameter has a
// value: a later `azd provision` without the value leaves what the vault already holds (for
// example a secret an operator rotated by hand, or a Key Vault certificate of the same name).
// The app reads them through Key Vault references (function-app.bicep), never as values.
param keyVaultName string

@description('Key Vault secret for GRAPH_CLIENT_SECRET.')
param clientSecretName string
@secure()
@description('Client secret of the app registration; empty: leave the vault as it is.')
param clientSecret string = ''

@description('Key Vault secret for GRAPH_CLIENT_CERTIFICATE_BASE64 (a Key Vault certificate of this name works too: its secret is the PFX).')
param certificateSecretName string
@secure()
@description('The client certificate as base64 PFX (or PEM with the private key); empty: leave the vault as it is.')
param certificate string = ''

@description('Key Vault secret for GRAPH_CLIENT_CERTIFICATE_PASSWORD.')
param certificatePasswordSecretName string
@secure()
@description('Password of the PFX; empty: none, or leave the vault as it is.')
param certificatePassword string = ''

resource keyVault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource clientSecretValue 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(clientSecret)) {
  parent: keyVault
  name: clientSecretName
  properties: {
    value: clientSecret
    contentType: 'Graph client secret'
  }
}

resource certificateValue 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(certificate)) {
  parent: keyVault
  name: certificateSecretName
  properties: {
    value: certificate
    contentType: 'application/x-pkcs12'
  }
}

resource certificatePasswordValue 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(certificatePassword)) {
  parent: keyVault
  name: certificatePasswordSecretName
  properties: {
    value: certificatePassword
    contentType: 'Graph client certificate password'
  }
}
