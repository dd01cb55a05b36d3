//! The AWS IoT credentials provider: its wire format ([`wire`]) and, built on it, a cached
//! mutual-TLS client that the AWS SDK clients and our PutMedia signer share.

pub mod provider;
pub mod wire;

#[cfg(test)]
mod tests;

pub use provider::{IotConfig, IotCredentialsProvider, IotError, Refusal};
pub use wire::{IotCredentials, IotCredentialsResponse, IotErrorBody, IotFormatError};
