//! [`AppState`]: what every handler can reach. Its own module so the router (which
//! builds it) and the handlers (which read it) do not import each other.

use std::sync::Arc;

use hallpass::time::Clock;

use crate::account::HashingSlots;
use crate::users::Users;

/// What every handler can reach.
#[derive(Clone, Debug)]
pub(crate) struct AppState {
    pub(crate) users: Arc<Users>,
    /// The password checks that may run at once (argon2 is the costly part).
    pub(crate) slots: Arc<HashingSlots>,
    pub(crate) clock: Arc<dyn Clock>,
    /// How old a login may be for "log out everywhere else" without the password.
    pub(crate) reauthenticate_after: std::time::Duration,
    pub(crate) tls: bool,
    /// Back-channel logout's verifier, when configured.
    pub(crate) backchannel: Option<Arc<crate::backchannel::BackchannelLogout>>,
    pub(crate) behind_proxy: bool,
}
