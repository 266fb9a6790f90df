//! The embedded MQTT broker: a real MQTT 3.1.1 and 5 broker (rmqtt, with retained messages)
//! running inside the Pista process, so that `pista serve` needs no other server. Pista talks to
//! it only through this crate's interface: [`EmbeddedBroker::start`] and a [`PublishGate`] that
//! decides, before the broker acknowledges a client's publish, whether to admit it. The ingest
//! pipeline implements the gate and admits a message only once it is committed, so a PUBACK from
//! this broker means the point is stored. A [`Gatekeeper`], when given, decides who may connect
//! (anonymous clients are then refused) and what each client may publish, subscribe to and
//! receive; each delivered message is checked for its receiver, so a right that ends stops the
//! flow without a reconnect. Nothing here knows about OwnTracks.

use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use rmqtt::codec::v5::SubscribeAckReason;
use rmqtt::context::ServerContext;
use rmqtt::hook::{Handler, HookResult, Parameter, ReturnType, Type};
use rmqtt::net::{Builder, Listener};
use rmqtt::server::MqttServer;
use rmqtt::session::Session;
use rmqtt::types::{
    AuthResult, From, FromType, Id, LastWill, Publish, PublishAclResult, PublishResult,
    SubscribeAclResult,
};
use tokio::task::JoinHandle;

/// A publish a client sent to the embedded broker.
#[derive(Debug, Clone)]
pub struct InboundPublish {
    pub client_id: String,
    pub username: Option<String>,
    pub topic: String,
    pub payload: Bytes,
    pub retained: bool,
}

/// Why a publish was not admitted; the broker then closes the client's connection without
/// acknowledging, so the client keeps the message and sends it again later.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{reason}")]
pub struct Refusal {
    pub reason: String,
}

/// What happens to an admitted publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Acknowledged and passed on to subscribers (and retained if flagged) as usual.
    Forward,
    /// Acknowledged but passed on to nobody and not retained: the gate kept it aside (an
    /// envelope nobody can open must not reach other clients, which would take it for a
    /// deletion). MQTT 5 clients see the reason in the PUBACK.
    Withhold { reason: String },
}

/// Decides whether the broker accepts a client's publish. Called once per publish, before the
/// acknowledgement, and awaited: the client's next packet waits for the answer.
#[async_trait]
pub trait PublishGate: Send + Sync + 'static {
    async fn admit(&self, publish: InboundPublish) -> Result<Admission, Refusal>;
}

/// A connected client as the gatekeeper sees it.
#[derive(Debug, Clone, Copy)]
pub struct Client<'a> {
    pub client_id: &'a str,
    pub username: Option<&'a str>,
}

/// Decides who may connect and what each client may do. The checks after the connection are
/// made for every packet and every delivery, so they must answer from memory.
#[async_trait]
pub trait Gatekeeper: Send + Sync + 'static {
    /// Whether a CONNECT with these credentials, from `from`, is let in (its last will, if any,
    /// is then checked with [`Gatekeeper::may_publish`]).
    async fn connect(
        &self,
        client: Client<'_>,
        password: Option<&[u8]>,
        from: Option<SocketAddr>,
    ) -> bool;
    /// Whether the client may publish on `topic` (its will included).
    fn may_publish(&self, client: Client<'_>, topic: &str) -> bool;
    /// Whether the client may subscribe with `filter`.
    fn may_subscribe(&self, client: Client<'_>, filter: &str) -> bool;
    /// Whether a message on `topic` may be delivered to the client.
    fn may_receive(&self, client: Client<'_>, topic: &str) -> bool;
}

/// How the embedded broker listens.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// TCP address for MQTT (port 0 picks a free port).
    pub listen: SocketAddr,
    /// Largest accepted packet in bytes.
    pub max_packet_size: u32,
    /// Whether clients without a user name may connect (only without a gatekeeper).
    pub anonymous: bool,
    /// An MQTTS listener beside the plain one.
    pub tls: Option<BrokerTls>,
    /// A listener for MQTT over WebSocket (subprotocol `mqtt`, any path), for apps and pages
    /// that reach the broker through a web proxy.
    pub ws: Option<SocketAddr>,
    /// A listener for MQTT over WebSocket over TLS.
    pub wss: Option<BrokerTls>,
}

/// A TLS listener of the embedded broker (MQTTS or WSS): its address and PEM files.
#[derive(Debug, Clone)]
pub struct BrokerTls {
    pub listen: SocketAddr,
    pub cert: std::path::PathBuf,
    pub key: std::path::PathBuf,
}

/// Why the broker could not start.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("cannot listen on {addr}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("cannot start the embedded broker: {detail}")]
    Start { detail: String },
}

impl BrokerError {
    /// The address that could not be bound, when that was the failure.
    pub fn addr(&self) -> Option<SocketAddr> {
        match self {
            BrokerError::Bind { addr, .. } => Some(*addr),
            BrokerError::Start { .. } => None,
        }
    }

    /// True when the listen address is already taken by another program.
    pub fn is_addr_in_use(&self) -> bool {
        matches!(
            self,
            BrokerError::Bind { source, .. } if source.kind() == std::io::ErrorKind::AddrInUse
        )
    }
}

/// A running embedded broker. Dropping it does not stop it; call [`EmbeddedBroker::shutdown`].
pub struct EmbeddedBroker {
    local_addr: SocketAddr,
    tls_addr: Option<SocketAddr>,
    ws_addr: Option<SocketAddr>,
    wss_addr: Option<SocketAddr>,
    /// The broker's accept loop; aborted on shutdown.
    task: JoinHandle<()>,
}

/// A broker whose listener is bound but not yet serving. Binding first lets the caller report a
/// taken port before starting anything else.
pub struct BoundBroker {
    listener: Listener,
    local_addr: SocketAddr,
    tls: Option<(Listener, SocketAddr)>,
    ws: Option<(Listener, SocketAddr)>,
    wss: Option<(Listener, SocketAddr)>,
}

/// The kinds of listener the embedded broker has.
#[derive(Clone, Copy)]
enum Transport {
    Tcp,
    Tls,
    Ws,
    Wss,
}

impl EmbeddedBroker {
    /// Binds the listeners (with `SO_REUSEADDR`, so a restart is not blocked by connections of
    /// the previous run that are still closing).
    pub fn bind(config: &BrokerConfig) -> Result<BoundBroker, BrokerError> {
        let (listener, local_addr) = bind_one(config, "mqtt", config.listen, None, Transport::Tcp)?;
        let tls = config
            .tls
            .as_ref()
            .map(|tls| bind_one(config, "mqtts", tls.listen, Some(tls), Transport::Tls))
            .transpose()?;
        let ws =
            config.ws.map(|addr| bind_one(config, "ws", addr, None, Transport::Ws)).transpose()?;
        let wss = config
            .wss
            .as_ref()
            .map(|tls| bind_one(config, "wss", tls.listen, Some(tls), Transport::Wss))
            .transpose()?;
        Ok(BoundBroker { listener, local_addr, tls, ws, wss })
    }

    /// Binds and starts serving. Fails at once if the address is taken.
    pub async fn start(
        config: BrokerConfig,
        gate: Arc<dyn PublishGate>,
        gatekeeper: Option<Arc<dyn Gatekeeper>>,
    ) -> Result<Self, BrokerError> {
        Self::bind(&config)?.serve(gate, gatekeeper).await
    }

    /// The address the broker listens on (useful when started on port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The MQTTS listener's address, when there is one.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls_addr
    }

    /// The MQTT-over-WebSocket listener's address, when there is one.
    pub fn ws_addr(&self) -> Option<SocketAddr> {
        self.ws_addr
    }

    /// The MQTT-over-secure-WebSocket listener's address, when there is one.
    pub fn wss_addr(&self) -> Option<SocketAddr> {
        self.wss_addr
    }

    /// Stops accepting connections.
    pub async fn shutdown(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

impl BoundBroker {
    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Starts serving, asking `gatekeeper` (when given) who may do what and `gate` before
    /// acknowledging each publish.
    pub async fn serve(
        self,
        gate: Arc<dyn PublishGate>,
        gatekeeper: Option<Arc<dyn Gatekeeper>>,
    ) -> Result<EmbeddedBroker, BrokerError> {
        let BoundBroker { listener, local_addr, tls, ws, wss } = self;

        // Retained messages live in memory; the plugin wants its config even for the defaults.
        let scx = ServerContext::new()
            .plugins_config_map_add(
                "rmqtt-retainer",
                "storage.type = \"ram\"\nmax_payload_size = \"8MB\"",
            )
            .build()
            .await;
        rmqtt_retainer::register(&scx, true, false).await.map_err(|e| start_error(&e))?;
        let register = scx.extends.hook_mgr().register();
        let hook = || Box::new(GateHook { gate: gate.clone(), gatekeeper: gatekeeper.clone() });
        register.add(Type::MessagePublishCheckAcl, hook()).await;
        register.add(Type::MessagePublish, hook()).await;
        if gatekeeper.is_some() {
            register.add(Type::ClientAuthenticate, hook()).await;
            register.add(Type::ClientSubscribeCheckAcl, hook()).await;
            register.add(Type::MessageExpiryCheck, hook()).await;
        }
        register.start().await;

        let mut server = MqttServer::new(scx).listener_by_id(listener, 1);
        let addr = |bound: &Option<(Listener, SocketAddr)>| bound.as_ref().map(|(_, addr)| *addr);
        let (tls_addr, ws_addr, wss_addr) = (addr(&tls), addr(&ws), addr(&wss));
        for (id, (listener, _)) in [(2, tls), (3, ws), (4, wss)]
            .into_iter()
            .filter_map(|(id, bound)| bound.map(|bound| (id, bound)))
        {
            server = server.listener_by_id(listener, id);
        }
        let server = server.build();
        let task = tokio::spawn(async move {
            if let Err(error) = server.run().await {
                tracing::error!(%error, "embedded broker stopped");
            }
        });
        Ok(EmbeddedBroker { local_addr, tls_addr, ws_addr, wss_addr, task })
    }
}

/// Binds one listener with the broker's limits, and TLS files for the TLS transports.
fn bind_one(
    config: &BrokerConfig,
    name: &str,
    addr: SocketAddr,
    tls: Option<&BrokerTls>,
    transport: Transport,
) -> Result<(Listener, SocketAddr), BrokerError> {
    let mut builder = Builder::new()
        .name(name)
        .laddr(addr)
        .reuseaddr(Some(true))
        .max_packet_size(config.max_packet_size)
        .allow_anonymous(config.anonymous)
        .max_mqueue_len(100_000)
        // iOS on MQTT 5 uses topic aliases 1 to 8 when the broker allows them.
        .max_topic_aliases(32)
        .max_inflight(std::num::NonZeroU16::new(1000).unwrap_or(std::num::NonZeroU16::MIN));
    if let Some(tls) = tls {
        builder = builder
            .tls_cert(Some(tls.cert.display().to_string()))
            .tls_key(Some(tls.key.display().to_string()));
    }
    let bound = builder.bind().map_err(|error| bind_error(addr, error))?;
    let local = bound.local_addr().map_err(|e| start_error(&e))?;
    let listener = match transport {
        Transport::Tcp => bound.tcp(),
        Transport::Tls => bound.tls(),
        Transport::Ws => bound.ws(),
        Transport::Wss => bound.wss(),
    }
    .map_err(|e| start_error(&e))?;
    Ok((listener, local))
}

fn bind_error(addr: SocketAddr, error: rmqtt::net::Error) -> BrokerError {
    match error.downcast::<std::io::Error>() {
        Ok(source) => BrokerError::Bind { addr, source },
        Err(other) => start_error(&other),
    }
}

fn start_error(error: &dyn std::fmt::Display) -> BrokerError {
    BrokerError::Start { detail: error.to_string() }
}

fn inbound(id: &Id, publish: &Publish) -> InboundPublish {
    InboundPublish {
        client_id: id.client_id.to_string(),
        username: id.username.as_ref().map(|u| u.to_string()),
        topic: publish.topic.to_string(),
        payload: publish.payload.clone(),
        retained: publish.retain,
    }
}

/// The rmqtt hook that runs the gatekeeper and the gate. The gate sits on the publish ACL check
/// because that check runs before the acknowledgement and can refuse with a disconnect.
/// Last-will messages, which the broker publishes itself when a client vanishes, skip that
/// check; they are caught on the publish hook instead. The gatekeeper also answers the
/// authentication and subscription checks, and the expiry check made before each delivery
/// (a message the receiver may not read is dropped there as expired). rmqtt's own superuser
/// flag is never set: it would skip the publish check, and with it the gate.
struct GateHook {
    gate: Arc<dyn PublishGate>,
    gatekeeper: Option<Arc<dyn Gatekeeper>>,
}

fn client(id: &Id) -> Client<'_> {
    Client { client_id: &id.client_id, username: id.username.as_deref() }
}

#[async_trait]
impl Handler for GateHook {
    async fn hook(&self, param: &Parameter, acc: Option<HookResult>) -> ReturnType {
        match param {
            Parameter::MessagePublishCheckAcl(session, publish) => {
                (false, Some(HookResult::PublishAclResult(self.check(session, publish).await)))
            }
            Parameter::MessagePublish(_, from, publish)
                if matches!(from.typ(), FromType::LastWill) =>
            {
                self.last_will(from, publish).await;
                (true, acc)
            }
            Parameter::ClientAuthenticate(info) => {
                let Some(gatekeeper) = &self.gatekeeper else { return (true, acc) };
                let password = info.password().map(|p| p.as_ref());
                let who = client(info.id());
                let allowed = gatekeeper.connect(who, password, info.ipaddress()).await;
                // A will on a topic the client may not publish to would be sent (and retained)
                // by the broker itself when the client vanishes: refuse the connection instead.
                let will = info.last_will().map(|will| match will {
                    LastWill::V3(will) => will.topic.to_string(),
                    LastWill::V5(will) => will.topic.to_string(),
                });
                let result = match (allowed, will) {
                    (false, _) => AuthResult::BadUsernameOrPassword,
                    (true, Some(topic)) if !gatekeeper.may_publish(who, &topic) => {
                        tracing::warn!(
                            client = who.client_id,
                            user = ?who.username,
                            topic,
                            "connection refused: its last will is on a topic it may not publish to"
                        );
                        AuthResult::NotAuthorized
                    }
                    (true, _) => AuthResult::Allow(false, None),
                };
                (false, Some(HookResult::AuthResult(result)))
            }
            Parameter::ClientSubscribeCheckAcl(session, subscribe) => {
                let Some(gatekeeper) = &self.gatekeeper else { return (true, acc) };
                let filter = &subscribe.topic_filter;
                let result = match gatekeeper.may_subscribe(client(&session.id), filter) {
                    true => SubscribeAclResult::new_success(subscribe.opts.qos(), None),
                    false => {
                        tracing::info!(client = %session.id.client_id, %filter, "subscription refused");
                        SubscribeAclResult::new_failure(SubscribeAckReason::NotAuthorized)
                    }
                };
                (false, Some(HookResult::SubscribeAclResult(result)))
            }
            Parameter::MessageExpiryCheck(session, _, publish) => {
                let Some(gatekeeper) = &self.gatekeeper else { return (true, acc) };
                match gatekeeper.may_receive(client(&session.id), &publish.topic) {
                    true => (true, acc),
                    false => (false, Some(HookResult::MessageExpiry)),
                }
            }
            _ => (true, acc),
        }
    }
}

impl GateHook {
    /// Nobody is waiting for a will's acknowledgement, so a refusal can only be logged.
    async fn last_will(&self, from: &From, publish: &Publish) {
        if let Some(gatekeeper) = &self.gatekeeper
            && !gatekeeper.may_publish(client(&from.id), &publish.topic)
        {
            tracing::warn!(
                client = %from.id.client_id,
                topic = ?publish.topic,
                "last-will message on a topic the client may not publish to; not stored"
            );
            return;
        }
        if let Err(refusal) = self.gate.admit(inbound(&from.id, publish)).await {
            tracing::error!(
                client = %from.id.client_id,
                topic = ?publish.topic,
                reason = %refusal,
                "last-will message could not be stored and is lost"
            );
        }
    }

    async fn check(&self, session: &Session, publish: &Publish) -> PublishAclResult {
        if let Some(gatekeeper) = &self.gatekeeper
            && !gatekeeper.may_publish(client(&session.id), &publish.topic)
        {
            tracing::warn!(
                client = %session.id.client_id,
                user = ?session.id.username,
                topic = ?publish.topic,
                "publish refused: not allowed on this topic"
            );
            // Acknowledged (MQTT 5: with "not authorized") and dropped, as Mosquitto does, so
            // that a client does not resend it forever.
            return PublishAclResult::rejected(false, Some("not authorized".into()));
        }
        match self.gate.admit(inbound(&session.id, publish)).await {
            Ok(Admission::Forward) => PublishAclResult::allow(),
            Ok(Admission::Withhold { reason }) => {
                tracing::info!(
                    client = %session.id.client_id,
                    topic = ?publish.topic,
                    reason,
                    "publish acknowledged but not passed on"
                );
                PublishAclResult(PublishResult::reason_code(
                    rmqtt::codec::v5::PublishAckReason::PayloadFormatInvalid,
                    Some(reason.into()),
                    false,
                ))
            }
            Err(refusal) => {
                tracing::warn!(
                    client = %session.id.client_id,
                    topic = ?publish.topic,
                    reason = %refusal,
                    "publish refused"
                );
                PublishAclResult(PublishResult::reason_code(
                    rmqtt::codec::v5::PublishAckReason::ImplementationSpecificError,
                    Some(refusal.reason.into()),
                    true,
                ))
            }
        }
    }
}
