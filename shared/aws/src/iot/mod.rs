//! The AWS IoT credentials provider: its wire format ([`wire`]) and, built on it, a cached
//! mutual-TLS client that the AWS SDK clients and our PutMedia signer share, and the one
//! rule that turns a front end's IoT settings into its configuration ([`settings`]).

pub mod provider;
pub mod settings;
pub mod wire;

#[cfg(test)]
mod tests;

pub use provider::{IotConfig, IotCredentialsProvider, IotError, Refusal};
pub use settings::{IotSetting, IotSettings, IotSettingsError};
pub use wire::{IotCredentials, IotCredentialsResponse, IotErrorBody, IotFormatError};
