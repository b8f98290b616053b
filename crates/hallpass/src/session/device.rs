//! Device binding on the request path: a bound session is used only with a valid
//! bound cookie, a login offers registration, a logout clears the browser's DBSC
//! session; and (feature `device-binding`) the registration and refresh endpoints.

use http::HeaderValue;

use crate::events::Event;
use crate::time::Timestamp;

use super::{Session, State};

impl Session {
    /// A bound session is authenticated only by a bound cookie of its current epoch
    /// that has not run out (issue 16, AT-34): without one, this request has no
    /// session. The stored session is neither used nor ended (the browser that
    /// holds the key refreshes and comes back), and no deletion cookie is sent.
    pub(super) fn check_device(&self, state: &mut State, now: Timestamp) {
        if self.config().device.is_none() {
            return;
        }
        let Some(current) = state.current.as_ref() else {
            return;
        };
        let Some(bound) = current.record.device.as_deref() else {
            return;
        };
        if crate::dbsc::proves(
            self.shared.bound.as_ref(),
            &current.record.handle,
            bound.epoch,
            now,
        ) {
            return;
        }
        let session = current.reference();
        self.emit(|| Event::DeviceProofMissing {
            session,
            ip: self.shared.ip,
        });
        state.current = None;
    }

    /// The headers device binding adds to this response: the registration offer for
    /// a stored, unbound session after a login or
    /// [`offer_device_binding`](Session::offer_device_binding), and
    /// `Clear-Site-Data` after a logout.
    pub(super) fn device_headers(&self, state: &State) -> Vec<(http::HeaderName, HeaderValue)> {
        let Some(device) = self.config().device.as_ref() else {
            return Vec::new();
        };
        let mut headers = Vec::new();
        if state.offer_device {
            let offer = state
                .current
                .as_ref()
                .filter(|current| current.stored && current.record.device.is_none())
                .and_then(|current| {
                    device.offer(&self.config().keyring, &current.record.handle, self.now())
                });
            if let Some(offer) = offer {
                headers.push((
                    http::HeaderName::from_static("secure-session-registration"),
                    offer,
                ));
            }
        }
        if state.clear_site_data {
            headers.push((
                http::HeaderName::from_static("clear-site-data"),
                crate::dbsc::CLEAR_COOKIES,
            ));
        }
        headers
    }

    /// Records that the browser skipped a refresh (`Secure-Session-Skipped`); the
    /// request is then one without a bound cookie, which is not an error.
    pub(crate) fn note_skipped(&self, reason: String) {
        self.emit(|| Event::DeviceRefreshSkipped {
            reason,
            ip: self.shared.ip,
        });
    }
}

#[cfg(feature = "device-binding")]
mod endpoints;
