//! Starting and stopping kvs-local: [`Server::start`] opens the data dir, loads users,
//! streams and the CA, binds both listeners and spawns their accept loops;
//! [`RunningServer::shutdown`] stops accepting, lets open connections finish (bounded by
//! [`Config::shutdown_grace`]) and returns.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::auth::{Authenticator, CredentialStore, User, bootstrap};
use crate::config::{Config, ConfigFile};
use crate::context::{ConnectionInfo, ServerState};
use crate::error::Error;
use crate::faults::Faults;
use crate::iot::{self, Endpoints, IotProvider, KeyType, ProvisionedThing};
use crate::router::route;
use crate::streams::StreamRegistry;
use crate::{fsutil, iot::tls};

/// How long a TLS handshake may take before the connection is dropped (a silent client
/// must not hold a task forever).
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Entry point of the library.
#[derive(Debug)]
pub struct Server;

impl Server {
    /// Starts kvs-local: returns once both listeners are bound and accepting.
    pub async fn start(config: Config) -> Result<RunningServer, Error> {
        config.validate()?;
        fsutil::create_dir_private(&config.data_dir)?;
        let file = match config.config_file_path() {
            Some(p) => ConfigFile::load(&p)?,
            None => ConfigFile::default(),
        };
        let store = Arc::new(CredentialStore::default());
        let admin = store.add_user(bootstrap::load_or_create_admin(
            &config.data_dir,
            &config.region,
        )?);
        for u in file.users {
            if matches!(
                store.lookup(&u.access_key_id),
                crate::auth::KeyLookup::User(_)
            ) {
                return Err(Error::Config(format!(
                    "user {:?} reuses an access key id already in use",
                    u.name
                )));
            }
            store.add_user(User {
                name: u.name,
                access_key_id: u.access_key_id,
                secret_access_key: u.secret_access_key,
                policy: u.policy,
            });
        }
        let streams = StreamRegistry::open(&config.data_dir, &config.region, &config.account_id)?;
        let iot = IotProvider::open(
            &config.data_dir,
            file.role_aliases,
            config.credential_duration_override,
            Arc::clone(&store),
        )?;

        let (control, control_addr) = bind(config.listen).await?;
        let iot_listener = match config.iot_listen {
            Some(addr) => Some(bind(addr).await?),
            None => None,
        };
        let tls_listener = match config.tls_listen {
            Some(addr) => Some(bind(addr).await?),
            None => None,
        };
        let control_url = format!("http://{control_addr}");
        let state = Arc::new(ServerState {
            auth: Authenticator::new(Arc::clone(&store), &config.region, &config.account_id),
            region: config.region.clone(),
            account_id: config.account_id.clone(),
            data_endpoint_url: control_url.clone(),
            tls_url: tls_listener.as_ref().map(|(_, a)| format!("https://{a}")),
            control_url,
            streams,
            faults: Faults::default(),
            iot,
            data_plane: config.data_plane.clone(),
        });

        let token = CancellationToken::new();
        let ids = Arc::new(AtomicU64::new(0));
        let grace = config.shutdown_grace;
        let control_task = tokio::spawn(accept_loop(
            control,
            token.clone(),
            grace,
            plane_connection(Arc::clone(&state), Arc::clone(&ids), token.clone(), None),
        ));
        let (https_task, tls_addr) = match tls_listener {
            Some((l, addr)) => {
                let tls = crate::https::server_config(
                    config.tls_identity.as_ref(),
                    state.iot.ca(),
                    &config.data_dir,
                )?;
                let acceptor = Some(TlsAcceptor::from(tls));
                let task = tokio::spawn(accept_loop(
                    l,
                    token.clone(),
                    grace,
                    plane_connection(
                        Arc::clone(&state),
                        Arc::clone(&ids),
                        token.clone(),
                        acceptor,
                    ),
                ));
                (Some(task), Some(addr))
            }
            None => (None, None),
        };
        let (iot_task, iot_addr) = match iot_listener {
            Some((l, addr)) => {
                let (chain, key) = state
                    .iot
                    .ca()
                    .issue_server("kvs-local IoT credentials endpoint", &[])?;
                let tls = tls::server_config(state.iot.ca().certificate_der(), chain, key)?;
                let task = tokio::spawn(accept_loop(
                    l,
                    token.clone(),
                    grace,
                    tls_connection(Arc::clone(&state), TlsAcceptor::from(tls), token.clone()),
                ));
                (Some(task), Some(addr))
            }
            None => (None, None),
        };
        let endpoints = Endpoints {
            control_plane: state.control_url.clone(),
            iot_credentials: iot_addr.map(|a| a.to_string()),
            https: state.tls_url.clone(),
        };
        fsutil::write_atomic(
            &iot::endpoints_path(&config.data_dir),
            &serde_json::to_vec_pretty(&endpoints).expect("endpoints serialize infallibly"),
        )?;
        tracing::info!(control = %state.control_url, https = ?state.tls_url, iot = ?iot_addr, data_dir = %config.data_dir.display(), "kvs-local started");
        Ok(RunningServer {
            state,
            admin,
            control_addr,
            iot_addr,
            tls_addr,
            data_dir: config.data_dir,
            token,
            tasks: [Some(control_task), iot_task, https_task],
        })
    }
}

/// A started kvs-local.
#[derive(Debug)]
pub struct RunningServer {
    state: Arc<ServerState>,
    admin: Arc<User>,
    control_addr: SocketAddr,
    iot_addr: Option<SocketAddr>,
    tls_addr: Option<SocketAddr>,
    data_dir: PathBuf,
    token: CancellationToken,
    tasks: [Option<JoinHandle<()>>; 3],
}

impl RunningServer {
    /// Control-plane URL (`http://127.0.0.1:PORT`): the SDK's `endpoint_url`.
    pub fn control_url(&self) -> &str {
        &self.state.control_url
    }

    /// Data endpoint URL returned by `GetDataEndpoint` (the same listener).
    pub fn data_endpoint_url(&self) -> &str {
        &self.state.data_endpoint_url
    }

    /// The HTTPS listener's URL (`https://127.0.0.1:PORT`), if [`Config::tls_listen`] is set:
    /// the same control and data planes over TLS.
    pub fn https_url(&self) -> Option<&str> {
        self.state.tls_url.as_deref()
    }

    /// The HTTPS listener's socket address, if any.
    pub fn https_addr(&self) -> Option<SocketAddr> {
        self.tls_addr
    }

    /// Control-plane socket address.
    pub fn control_addr(&self) -> SocketAddr {
        self.control_addr
    }

    /// IoT credentials endpoint URL (`https://127.0.0.1:PORT`), if enabled.
    pub fn iot_url(&self) -> Option<String> {
        self.iot_addr.map(|a| format!("https://{a}"))
    }

    /// IoT credentials endpoint address, if enabled.
    pub fn iot_addr(&self) -> Option<SocketAddr> {
        self.iot_addr
    }

    /// The data dir.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The region.
    pub fn region(&self) -> &str {
        &self.state.region
    }

    /// The admin's credentials (also in `DATA_DIR/credentials`).
    pub fn admin_credentials(&self) -> aws_credential_types::Credentials {
        aws_credential_types::Credentials::new(
            self.admin.access_key_id.clone(),
            self.admin.secret_access_key.expose().to_owned(),
            None,
            None,
            "kvs-local-admin",
        )
    }

    /// Client options for this server as its admin: its region, its control-plane URL and
    /// the admin's static credentials (what the demo, the tests and the benches connect
    /// with).
    pub fn admin_client_options(&self) -> kvs_e2ee_aws::config::ConfigOptions {
        kvs_e2ee_aws::config::ConfigOptions {
            region: Some(self.region().to_owned()),
            endpoint_url: Some(self.control_url().to_owned()),
            credentials: kvs_e2ee_aws::config::CredentialSource::Static(self.admin_credentials()),
            ..Default::default()
        }
    }

    /// Shared state: stream registry, faults, authenticator, IoT provider.
    pub fn state(&self) -> &Arc<ServerState> {
        &self.state
    }

    /// Fault rules (same as the admin API).
    pub fn faults(&self) -> &Faults {
        &self.state.faults
    }

    /// The CA certificate (PEM) cameras pin for the IoT endpoint; it also signs the HTTPS
    /// listener's generated certificate (written to `DATA_DIR/ca.pem`).
    pub fn ca_pem(&self) -> &str {
        self.state.iot.ca().certificate_pem()
    }

    /// Provisions a device for `thing` and writes its files to `out_dir` (as
    /// `kvs-local iot provision` does).
    pub fn provision_thing(
        &self,
        thing: &str,
        key_type: KeyType,
        out_dir: &Path,
    ) -> Result<ProvisionedThing, Error> {
        let issued = self.state.iot.provision(thing, key_type)?;
        iot::write_device_files(
            out_dir,
            thing,
            &issued,
            self.ca_pem(),
            self.state.iot.default_role_alias(),
            self.iot_addr.map(|a| a.to_string()),
        )
    }

    /// Makes the temporary credentials `access_key_id` expire now; `false` if unknown.
    pub fn expire_credentials(&self, access_key_id: &str) -> bool {
        self.state
            .auth
            .store()
            .expire_session(access_key_id, time::OffsetDateTime::now_utc())
    }

    /// Stops accepting, lets open connections finish within the grace period, and returns.
    pub async fn shutdown(mut self) {
        self.token.cancel();
        for t in self.tasks.iter_mut().filter_map(Option::take) {
            if let Err(e) = t.await {
                tracing::warn!(error = %e, "listener task failed");
            }
        }
        tracing::info!("kvs-local stopped");
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        // A server dropped without `shutdown` still stops accepting.
        self.token.cancel();
    }
}

/// Accepts connections until cancelled, then waits up to `grace` for them to finish.
async fn accept_loop<F, Fut>(
    listener: TcpListener,
    token: CancellationToken,
    grace: Duration,
    serve: F,
) where
    F: Fn(TcpStream, SocketAddr) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            () = token.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    conns.spawn(serve(stream, peer));
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    let drain = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(grace, drain).await.is_err() {
        tracing::warn!(
            open = conns.len(),
            "connections still open after the grace period; dropping them"
        );
        conns.abort_all();
    }
}

/// Binds `addr`; returns the listener and the address it got (port 0 picks one).
async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), Error> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Bind { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| Error::Bind { addr, source })?;
    Ok((listener, local))
}

/// Serves the control and data planes on one accepted connection: plain HTTP, or HTTPS
/// when `acceptor` is set.
fn plane_connection(
    state: Arc<ServerState>,
    ids: Arc<AtomicU64>,
    token: CancellationToken,
    acceptor: Option<TlsAcceptor>,
) -> impl Fn(TcpStream, SocketAddr) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
    move |stream, peer| {
        let info = ConnectionInfo {
            id: ids.fetch_add(1, Ordering::Relaxed) + 1,
            peer,
            tls: acceptor.is_some(),
        };
        let state = Arc::clone(&state);
        let token = token.clone();
        let acceptor = acceptor.clone();
        Box::pin(async move {
            let _ = stream.set_nodelay(true);
            let svc = service_fn(move |req| {
                let state = Arc::clone(&state);
                async move { Ok::<_, Infallible>(route(state, info, req).await) }
            });
            match acceptor {
                None => serve_http1(TokioIo::new(stream), svc, &token).await,
                Some(acceptor) => {
                    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await
                    {
                        Ok(Ok(tls)) => serve_http1(TokioIo::new(tls), svc, &token).await,
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "HTTPS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "HTTPS handshake timed out"),
                    }
                }
            }
        })
    }
}

fn tls_connection(
    state: Arc<ServerState>,
    acceptor: TlsAcceptor,
    token: CancellationToken,
) -> impl Fn(TcpStream, SocketAddr) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
    move |stream, peer| {
        let state = Arc::clone(&state);
        let acceptor = acceptor.clone();
        let token = token.clone();
        Box::pin(async move {
            let tls =
                match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(tls)) => tls,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = %e, "IoT TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "IoT TLS handshake timed out");
                        return;
                    }
                };
            let chain: Vec<_> = tls
                .get_ref()
                .1
                .peer_certificates()
                .map(|c| c.iter().map(|d| d.clone().into_owned()).collect())
                .unwrap_or_default();
            let chain = Arc::new(chain);
            let svc = service_fn(move |req| {
                let state = Arc::clone(&state);
                let chain = Arc::clone(&chain);
                async move { Ok::<_, Infallible>(iot::server::handle(state, chain, req).await) }
            });
            serve_http1(TokioIo::new(tls), svc, &token).await;
        })
    }
}

async fn serve_http1<I, S>(io: I, svc: S, token: &CancellationToken)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: hyper::service::HttpService<hyper::body::Incoming> + Send,
    S::Future: Send + 'static,
    S::ResBody: 'static,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let conn = http1::Builder::new().serve_connection(io, svc);
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        }
        () = token.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}
