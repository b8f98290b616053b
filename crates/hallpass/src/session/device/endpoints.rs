//! The registration and refresh endpoints (feature `device-binding`): each verifies
//! the browser's proof, then changes the binding in one store step.

use hallpass_dbsc::{Instructions, MAX_PROOF_LEN, PublicKey, headers as dbsc_headers};
use http::header::SET_COOKIE;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

use crate::dbsc::tokens::{self, Purpose};
use crate::dbsc::{DeviceBinding, DeviceResponse};
use crate::delta::Delta;
use crate::device::{BoundDevice, DeviceChange, DeviceConflict};
use crate::events::{DeviceFailure, Event, SessionRef};
use crate::record::Record;
use crate::store::{Applied, DeltaError, Loaded, StoreError, StoreErrorKind};
use crate::time::Timestamp;
use crate::token::{Handle, StoreKey};

use super::super::Session;

const RESPONSE: HeaderName = HeaderName::from_static(dbsc_headers::RESPONSE);
const CHALLENGE: HeaderName = HeaderName::from_static(dbsc_headers::CHALLENGE);
const SESSION_ID: HeaderName = HeaderName::from_static(dbsc_headers::SESSION_ID);

/// How far a challenge's issue time may lie ahead of this server's clock (another
/// server of the fleet issued it): a little clock skew, no more.
const SKEW: std::time::Duration = std::time::Duration::from_secs(60);

/// An endpoint's steps: `Err` is an answer that stops it early.
type Step<T> = Result<T, Box<DeviceResponse>>;

fn stop<T>(early: DeviceResponse) -> Step<T> {
    Err(Box::new(early))
}

fn answer(result: Step<DeviceResponse>) -> DeviceResponse {
    result.unwrap_or_else(|early| *early)
}

/// The answer for a store failure: 503 when it is down (the browser keeps its
/// session and tries again later; a 4xx would end it), else 500.
fn store_failed(err: &StoreError) -> DeviceResponse {
    let unavailable = matches!(
        err.kind(),
        StoreErrorKind::Unavailable | StoreErrorKind::Timeout | StoreErrorKind::CapacityExceeded
    );
    tracing::warn!(target: "hallpass::rejection", error = %err, "device binding endpoint: the store failed");
    if unavailable {
        DeviceResponse::new(StatusCode::SERVICE_UNAVAILABLE).text("session store unavailable")
    } else {
        DeviceResponse::new(StatusCode::INTERNAL_SERVER_ERROR).text("session error")
    }
}

/// 404: this engine has no device binding configured.
fn not_configured() -> DeviceResponse {
    DeviceResponse::new(StatusCode::NOT_FOUND).text("device binding is not configured")
}

/// `{"continue":false}`: the browser ends its DBSC session.
fn end() -> DeviceResponse {
    DeviceResponse::new(StatusCode::OK).json(Instructions::end().to_owned())
}

impl Session {
    /// Asks for the registration offer (`Secure-Session-Registration`) on this
    /// response, if the session is stored and not bound (a login asks for it on its
    /// own).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let session = hallpass::__private::doc_session();
    /// session.offer_device_binding().await;
    /// # });
    /// ```
    pub async fn offer_device_binding(&self) {
        self.shared.state.lock().await.offer_device = true;
    }

    /// Answers a registration request (a `POST` to the registration path): verifies
    /// the proof in `Secure-Session-Response` (see `hallpass_dbsc::verify_registration`),
    /// that its challenge was issued for this session less than the challenge
    /// lifetime ago, and that the session cookie names a live session; then binds
    /// the session to the proof's key in one store step, which refuses a session
    /// that is already bound. 200 with the instructions and a bound cookie, 403 for
    /// any refusal, 431 for a proof over 8 KiB (unread), 503 when the store is down.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let session = hallpass::__private::doc_session();
    /// // In a framework without an adapter's handler: the request's headers in, the
    /// // answer out (here without device binding configured: 404).
    /// let answer = session.register_device(&http::HeaderMap::new()).await;
    /// assert_eq!(answer.status(), http::StatusCode::NOT_FOUND);
    /// # });
    /// ```
    pub async fn register_device(&self, headers: &HeaderMap) -> DeviceResponse {
        let Some(device) = self.config().device.clone() else {
            return not_configured();
        };
        answer(self.register_with(&device, headers).await)
    }

    async fn register_with(
        &self,
        device: &DeviceBinding,
        headers: &HeaderMap,
    ) -> Step<DeviceResponse> {
        let now = self.now();
        let Some(proof) = self.proof(headers)? else {
            return stop(self.refuse(None, DeviceFailure::Proof));
        };
        let registration = match hallpass_dbsc::verify_registration(&proof, &device.algorithms) {
            Ok(registration) if registration.authorization.is_none() => registration,
            Ok(_) | Err(_) => return stop(self.refuse(None, DeviceFailure::Proof)),
        };
        // The challenge names its session: only a candidate of this request's cookie
        // can have been offered it.
        let Some((key, challenge)) = self.shared.candidates.iter().find_map(|candidate| {
            let challenge = tokens::read_challenge(
                &self.config().keyring,
                &candidate.handle,
                &registration.jti,
            )?;
            Some((candidate.key, challenge))
        }) else {
            return stop(self.refuse(None, DeviceFailure::Challenge));
        };
        if challenge.purpose != Purpose::Registration
            || !self.fresh_challenge(device, challenge.issued_at, now)
        {
            return stop(self.refuse(Some(&key), DeviceFailure::Challenge));
        }
        let record = self
            .live_record(&key, now)
            .await?
            .ok_or_else(|| self.refuse(Some(&key), DeviceFailure::NoSession))?;
        let bound = BoundDevice::new(
            registration.key.to_jwk(),
            registration.key.thumbprint(),
            now,
        );
        let mut delta = Delta {
            device: Some(DeviceChange::Register(bound)),
            ..Delta::default()
        };
        if let Some(timeout) = device.bound_absolute_timeout {
            let from = record
                .authenticated
                .as_ref()
                .map_or(record.created_at, |a| a.at);
            delta.absolute_deadline =
                Some(from.saturating_add(timeout).max(record.absolute_deadline));
        }
        match self.store().apply(&key, &delta, now).await {
            Ok(Applied::Updated(record)) => {
                self.emit(|| Event::DeviceRegistered {
                    session: SessionRef::of(&key),
                    handle: record.handle,
                });
                Ok(self.bound_answer(device, &record, now))
            }
            Ok(_) => stop(self.refuse(Some(&key), DeviceFailure::NoSession)),
            Err(err) => match err.delta_error() {
                Some(DeltaError::Device(_)) => {
                    stop(self.refuse(Some(&key), DeviceFailure::AlreadyBound))
                }
                _ => stop(store_failed(&err)),
            },
        }
    }

    /// Answers a refresh request (a `POST` to the refresh path, with
    /// `Sec-Secure-Session-Id`): without a proof, or with one that does not verify
    /// against the session's bound key (a proof carrying a key of its own is
    /// refused), or whose challenge is stale or spent, 403 with a fresh
    /// `Secure-Session-Challenge`; with a good one, one store step moves the
    /// binding to the next epoch (spending the challenge) and the answer is a new
    /// bound cookie and the instructions. A session that is gone or no longer bound
    /// gets `{"continue":false}`; a session id that is not this cookie's session, 404.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let session = hallpass::__private::doc_session();
    /// let answer = session.refresh_device(&http::HeaderMap::new()).await;
    /// assert_eq!(answer.status(), http::StatusCode::NOT_FOUND, "not configured");
    /// # });
    /// ```
    pub async fn refresh_device(&self, headers: &HeaderMap) -> DeviceResponse {
        let Some(device) = self.config().device.clone() else {
            return not_configured();
        };
        answer(self.refresh_with(&device, headers).await)
    }

    async fn refresh_with(
        &self,
        device: &DeviceBinding,
        headers: &HeaderMap,
    ) -> Step<DeviceResponse> {
        let now = self.now();
        // A header pages cannot set: the browser itself started this refresh.
        let Some(id) = headers
            .get(SESSION_ID)
            .and_then(|value| dbsc_headers::session_id(value.as_bytes()))
        else {
            return stop(
                DeviceResponse::new(StatusCode::BAD_REQUEST)
                    .text("Sec-Secure-Session-Id is required"),
            );
        };
        let Ok(handle) = id.parse::<Handle>() else {
            return stop(DeviceResponse::new(StatusCode::NOT_FOUND).text("unknown session"));
        };
        let Some(candidate) = self.shared.candidates.iter().find(|c| c.handle == handle) else {
            // No cookie of that session came with the refresh: it cannot go on.
            return stop(if self.shared.candidates.is_empty() {
                end()
            } else {
                DeviceResponse::new(StatusCode::NOT_FOUND).text("unknown session")
            });
        };
        // The session under the cookie's key or, when a rotation moved it meanwhile
        // (a periodic rotation racing a proactive refresh), under its new key: the
        // proof, not the cookie, is what a refresh rests on, and ending a live
        // session's binding for a lost race would cost the user it.
        let (key, record) = match self.live_record(&candidate.key, now).await? {
            Some(record) => (candidate.key, record),
            None => match self.store().load_handle(&handle, now).await {
                Ok(Some((key, record))) => (key, std::sync::Arc::new(record)),
                Ok(None) => return Ok(end()),
                Err(err) => return stop(store_failed(&err)),
            },
        };
        let Some(bound) = record.device.as_deref() else {
            return Ok(end());
        };
        let Some(proof) = self.proof(headers)? else {
            return Ok(self.challenge(&record, now));
        };
        let Ok(public) = PublicKey::from_jwk(&bound.key) else {
            tracing::error!(target: "hallpass::rejection", "a stored device key does not parse; ending the browser's session");
            return Ok(end());
        };
        let jti = match hallpass_dbsc::verify_refresh(&proof, &public) {
            Ok(refresh) => refresh.jti,
            Err(_) => {
                self.refuse(Some(&key), DeviceFailure::Proof);
                return Ok(self.challenge(&record, now));
            }
        };
        let challenge = tokens::read_challenge(&self.config().keyring, &handle, &jti).filter(|c| {
            c.purpose == Purpose::Refresh && self.fresh_challenge(device, c.issued_at, now)
        });
        let Some(challenge) = challenge else {
            self.refuse(Some(&key), DeviceFailure::Challenge);
            return Ok(self.challenge(&record, now));
        };
        let delta = Delta {
            device: Some(DeviceChange::Refresh {
                thumbprint: bound.thumbprint.clone(),
                epoch: challenge.epoch,
                at: now,
            }),
            touch: Some(self.touch_at(now)),
            ..Delta::default()
        };
        match self.store().apply(&key, &delta, now).await {
            Ok(Applied::Updated(record)) => {
                let epoch = record.device.as_ref().map_or(0, |d| d.epoch);
                self.emit(|| Event::DeviceRefreshed {
                    session: SessionRef::of(&key),
                    epoch,
                });
                Ok(self.bound_answer(device, &record, now))
            }
            Ok(_) => Ok(end()),
            Err(err) => match err.delta_error() {
                Some(DeltaError::Device(DeviceConflict::NotBound)) => Ok(end()),
                Some(DeltaError::Device(_)) => {
                    self.refuse(Some(&key), DeviceFailure::Spent);
                    Ok(self.challenge(&record, now))
                }
                _ => stop(store_failed(&err)),
            },
        }
    }

    /// The proof in `Secure-Session-Response`, if any. Refused before any parsing
    /// above [`MAX_PROOF_LEN`] (431) or when it is not text (400).
    fn proof(&self, headers: &HeaderMap) -> Step<Option<String>> {
        let Some(value) = headers.get(RESPONSE) else {
            return Ok(None);
        };
        if value.len() > MAX_PROOF_LEN {
            self.refuse(None, DeviceFailure::TooLarge);
            return stop(
                DeviceResponse::new(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
                    .text("Secure-Session-Response too large"),
            );
        }
        match value.to_str() {
            Ok(text) => Ok(Some(text.to_owned())),
            Err(_) => stop(
                DeviceResponse::new(StatusCode::BAD_REQUEST)
                    .text("Secure-Session-Response is not text"),
            ),
        }
    }

    fn fresh_challenge(
        &self,
        device: &DeviceBinding,
        issued_at: Timestamp,
        now: Timestamp,
    ) -> bool {
        issued_at <= now.saturating_add(SKEW)
            && now < issued_at.saturating_add(device.challenge_lifetime)
    }

    /// The live record under `key` whose handle is the key's, or `None`.
    async fn live_record(
        &self,
        key: &StoreKey,
        now: Timestamp,
    ) -> Step<Option<std::sync::Arc<Record>>> {
        match self.store().load(key, now).await {
            Ok(Loaded::Live(record))
                if record.handle == *key.handle() && record.expired_by(now).is_none() =>
            {
                Ok(Some(record))
            }
            Ok(_) => Ok(None),
            Err(err) => stop(store_failed(&err)),
        }
    }

    /// Logs and counts a refused proof; the 403 that goes with it.
    fn refuse(&self, key: Option<&StoreKey>, reason: DeviceFailure) -> DeviceResponse {
        self.emit(|| Event::DeviceProofFailed {
            session: key.map(SessionRef::of),
            reason,
            ip: self.shared.ip,
        });
        DeviceResponse::new(StatusCode::FORBIDDEN).text("device proof refused")
    }

    /// 403 with a fresh challenge for the binding's current epoch.
    fn challenge(&self, record: &Record, now: Timestamp) -> DeviceResponse {
        let epoch = record.device.as_ref().map_or(0, |d| d.epoch);
        let challenge = tokens::challenge(
            &self.config().keyring,
            Purpose::Refresh,
            &record.handle,
            now,
            epoch,
        );
        let mut response = DeviceResponse::new(StatusCode::FORBIDDEN).text("device proof required");
        if let Some(value) = dbsc_headers::challenge(&challenge, &record.handle.to_string())
            .ok()
            .and_then(|value| HeaderValue::try_from(value).ok())
        {
            response = response.header(CHALLENGE, value);
        }
        response
    }

    /// 200: a bound cookie for the binding's epoch and the session instructions.
    fn bound_answer(
        &self,
        device: &DeviceBinding,
        record: &Record,
        now: Timestamp,
    ) -> DeviceResponse {
        let config = self.config();
        let epoch = record.device.as_ref().map_or(0, |d| d.epoch);
        let expires_at = now.saturating_add(device.cookie_lifetime);
        let value = tokens::bound_cookie(
            &config.keyring,
            &device.cookie_name,
            &record.handle,
            epoch,
            expires_at,
        );
        let attributes = config.device_cookie_attributes();
        let text = format!(
            "{}={value}; Max-Age={}; {attributes}",
            device.cookie_name,
            device.cookie_lifetime.as_secs()
        );
        let instructions = Instructions::new(
            &record.handle.to_string(),
            &device.refresh_path,
            &device.origin,
            &device.cookie_name,
            &attributes,
        )
        .ok()
        .and_then(|instructions| serde_json::to_string(&instructions).ok());
        let (Ok(mut cookie), Some(body)) = (HeaderValue::try_from(text), instructions) else {
            return DeviceResponse::new(StatusCode::INTERNAL_SERVER_ERROR).text("session error");
        };
        cookie.set_sensitive(true);
        DeviceResponse::new(StatusCode::OK)
            .json(body)
            .header(SET_COOKIE, cookie)
    }
}
