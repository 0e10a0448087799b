// Parameters for main.bicep, read from the environment at compile time (azd passes its .azure/<env>/.env values;
// `az deployment group create -p infra/main.bicepparam` uses the current shell's environment).
//
// Environment variables read (name: parameter, default):
//   AZURE_ENV_NAME: environmentName, 'dev'
//   AZURE_LOCATION: location, 'westeurope'
//   BITS_UPLOAD_CONTAINER: uploadContainerName, 'uploads'
//   BITS_STAGING_CONTAINER: stagingContainerName, 'bits-staging'
//   BITS_SESSION_TABLE: sessionTableName, 'bitssessions'
//   BITS_COMPLETION_QUEUE: completionQueueName, 'bits-completed'
//   BITS_STAGING_RETENTION_DAYS: stagingRetentionDays, '30'
//   BITS_MAX_UPLOAD_BYTES: maxUploadBytes, '10737418240' (10 GiB)
//   BITS_ALLOW_OVERWRITES: allowOverwrites, 'false'
//   FUNCTION_MAX_INSTANCE_COUNT: maximumInstanceCount, '100'
//   FUNCTION_INSTANCE_MEMORY_MB: instanceMemoryMB, '2048'
using './main.bicep'

param environmentName = readEnvironmentVariable('AZURE_ENV_NAME', 'dev')
param location = readEnvironmentVariable('AZURE_LOCATION', 'westeurope')

param uploadContainerName = readEnvironmentVariable('BITS_UPLOAD_CONTAINER', 'uploads')
param stagingContainerName = readEnvironmentVariable('BITS_STAGING_CONTAINER', 'bits-staging')
param sessionTableName = readEnvironmentVariable('BITS_SESSION_TABLE', 'bitssessions')
param completionQueueName = readEnvironmentVariable('BITS_COMPLETION_QUEUE', 'bits-completed')
param stagingRetentionDays = int(readEnvironmentVariable('BITS_STAGING_RETENTION_DAYS', '30'))

param maxUploadBytes = int(readEnvironmentVariable('BITS_MAX_UPLOAD_BYTES', '10737418240'))
param allowOverwrites = bool(readEnvironmentVariable('BITS_ALLOW_OVERWRITES', 'false'))

param maximumInstanceCount = int(readEnvironmentVariable('FUNCTION_MAX_INSTANCE_COUNT', '100'))
param instanceMemoryMB = int(readEnvironmentVariable('FUNCTION_INSTANCE_MEMORY_MB', '2048'))
