//! Flow configuration: [`FlowConfig`], the three `NUMASEG_NETWORK_*` settings a gate and its
//! channels are built with (exclusive buffers per channel, floating buffers per gate, how long a
//! channel waits for its exclusive buffers).
//!
//! What must hold: the values are read from the one `settings!` table ([`Config`]) and nowhere
//! else; nothing here touches buffers.

use std::time::Duration;

use crate::config::Config;

/// The flow-control settings (from `NUMASEG_NETWORK_EXCLUSIVE_BUFFERS`,
/// `NUMASEG_NETWORK_FLOATING_BUFFERS`, `NUMASEG_NETWORK_REQUEST_TIMEOUT`).
///
/// ```
/// use numaseg::{Config, buffer_pool::credit::FlowConfig};
/// let flow = FlowConfig::from_config(&Config::default());
/// assert_eq!((flow.exclusive_per_channel, flow.floating_per_gate), (2, 8));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowConfig {
    /// Exclusive buffers per channel.
    pub exclusive_per_channel: usize,
    /// Most floating buffers a gate's pool holds.
    pub floating_per_gate: usize,
    /// How long a channel waits for its exclusive buffers.
    pub request_timeout: Duration,
}

impl FlowConfig {
    /// The settings of a configuration.
    ///
    /// ```
    /// use numaseg::{Config, buffer_pool::credit::FlowConfig};
    /// let config = Config::builder().network_exclusive_buffers(4).build_from::<_, &str, &str>([])?;
    /// assert_eq!(FlowConfig::from_config(&config).exclusive_per_channel, 4);
    /// # Ok::<(), numaseg::config::ConfigError>(())
    /// ```
    #[must_use]
    pub fn from_config(config: &Config) -> Self {
        Self {
            exclusive_per_channel: config.network_exclusive_buffers,
            floating_per_gate: config.network_floating_buffers,
            request_timeout: config.network_request_timeout.as_duration(),
        }
    }
}
