// User-assigned managed identity: the one identity the Function App uses for storage,
// Service Bus, Key Vault and Application Insights. Nothing in this deployment uses keys, except
// Notification Hubs, whose SDK only takes a SAS connection string (kept in Key Vault).
param name string
param location string
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output clientId string = identity.properties.clientId
output principalId string = identity.properties.principalId
