//! Certificates made by `openssl` for the HTTPS tests: a root CA, an intermediate CA it signed,
//! and server certificates the intermediate signs for 127.0.0.1, each written as Berth and nginx
//! read them (the server's certificate followed by the intermediate's, and its key). Clients
//! trust the root alone (`ca.crt` of [`Pki::trust_dir`], the layout of skopeo's and podman's
//! `--cert-dir`), so the chain must be served whole.

use std::path::{Path, PathBuf};
use std::process::Command;

use berth_testkit::{path_str, run};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// RSA 2048, written as PKCS#1 (`BEGIN RSA PRIVATE KEY`).
    Rsa,
    /// ECDSA P-256, written as SEC1 (`BEGIN EC PRIVATE KEY`).
    Ecdsa,
}

/// When a server certificate is valid: `openssl ca` dates, `YYYYMMDDHHMMSSZ`.
pub struct Validity(pub &'static str, pub &'static str);

impl Validity {
    pub const CURRENT: Validity = Validity("20200101000000Z", "20991231000000Z");
    pub const EXPIRED: Validity = Validity("20200101000000Z", "20200201000000Z");
    pub const NOT_YET: Validity = Validity("20980101000000Z", "20991231000000Z");
}

pub struct Pki {
    dir: tempfile::TempDir,
}

/// A server certificate's files.
pub struct ServerCert {
    /// The server's certificate, then the intermediate's.
    pub chain: PathBuf,
    pub key: PathBuf,
}

impl Pki {
    /// A root CA (RSA) and an intermediate CA (ECDSA) signed by it.
    pub fn new() -> Pki {
        let pki = Pki { dir: tempfile::tempdir().expect("tempdir") };
        std::fs::create_dir(pki.trust_dir()).unwrap();
        std::fs::write(pki.path("index.txt"), "").unwrap();
        std::fs::write(pki.path("serial"), "1000\n").unwrap();
        std::fs::write(pki.path("ca.cnf"), ca_config(pki.dir.path())).unwrap();
        std::fs::write(
            pki.path("ca.ext"),
            "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n",
        )
        .unwrap();
        let root = pki.path("root.crt");
        run(openssl(&["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3", "-subj", "/CN=Berth Test Root"])
            .args(["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
            .arg("-keyout")
            .arg(pki.path("root.key"))
            .arg("-out")
            .arg(&root));
        std::fs::copy(&root, pki.root()).unwrap();
        run(openssl(&["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out"]).arg(pki.path("int.key")));
        pki.sign(
            "root",
            &pki.path("int.key"),
            "/CN=Berth Test Intermediate",
            "ca.ext",
            &pki.path("int.crt"),
            &Validity::CURRENT,
        );
        pki
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A folder holding only the root as `ca.crt`: what `--cert-dir` takes, and curl's `--cacert`
    /// is its one file.
    pub fn trust_dir(&self) -> PathBuf {
        self.path("trust")
    }

    /// The root CA's certificate.
    pub fn root(&self) -> PathBuf {
        self.trust_dir().join("ca.crt")
    }

    /// A certificate for 127.0.0.1 and localhost signed by the intermediate, with a new `kind`
    /// key, valid during `validity`; its files are named after `name`.
    pub fn server(&self, name: &str, kind: KeyKind, validity: &Validity) -> ServerCert {
        let key = self.path(&format!("{name}.key"));
        match kind {
            KeyKind::Rsa => run(openssl(&["genrsa", "-traditional", "-out"]).arg(&key).arg("2048")),
            KeyKind::Ecdsa => run(openssl(&["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out"]).arg(&key)),
        };
        std::fs::write(
            self.path("server.ext"),
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n\
             extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
        )
        .unwrap();
        let cert = self.path(&format!("{name}.crt"));
        self.sign("int", &key, "/CN=127.0.0.1", "server.ext", &cert, validity);
        let chain = self.path(&format!("{name}.chain.pem"));
        let text = std::fs::read_to_string(&cert).unwrap() + &std::fs::read_to_string(self.path("int.crt")).unwrap();
        std::fs::write(&chain, text).unwrap();
        ServerCert { chain, key }
    }

    /// Signs a certificate for `key` with the CA `issuer` (`root` or `int`).
    fn sign(&self, issuer: &str, key: &Path, subject: &str, ext: &str, out: &Path, validity: &Validity) {
        let csr = self.path("request.csr");
        run(&mut openssl(&["req", "-new", "-subj", subject, "-key", path_str(key), "-out", path_str(&csr)]));
        run(openssl(&["ca", "-batch", "-notext", "-config", path_str(&self.path("ca.cnf"))])
            .args(["-cert", path_str(&self.path(&format!("{issuer}.crt")))])
            .args(["-keyfile", path_str(&self.path(&format!("{issuer}.key")))])
            .args(["-extfile", path_str(&self.path(ext)), "-startdate", validity.0, "-enddate", validity.1])
            .args(["-in", path_str(&csr), "-out", path_str(out)]));
    }
}

fn openssl(args: &[&str]) -> Command {
    let mut cmd = Command::new("openssl");
    cmd.args(args);
    cmd
}

/// The least `openssl ca` needs: its database files, and a policy that takes any subject.
fn ca_config(dir: &Path) -> String {
    let dir = path_str(dir);
    format!(
        "[ca]\ndefault_ca = test\n\n[test]\ndatabase = {dir}/index.txt\nnew_certs_dir = {dir}\nserial = {dir}/serial\n\
         default_md = sha256\npolicy = any\nunique_subject = no\n\n[any]\ncommonName = supplied\n"
    )
}
