package redistest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// Certs is a throwaway certificate authority with a server certificate (for
// 127.0.0.1, ::1 and localhost) and a client certificate, made with crypto/x509 and
// written as PEM files for redis-server.
type Certs struct {
	Dir                   string
	CAFile                string
	ServerCert, ServerKey string // files
	ClientCert, ClientKey string // files of Client (a cluster node's certificate on its bus)
	CAPool                *x509.CertPool
	Client                tls.Certificate // signed by the CA
	OtherCAPool           *x509.CertPool  // a CA that signed nothing here
}

// NewCerts makes a CA, a server and a client certificate in a temporary directory
// removed when t ends.
func NewCerts(t testing.TB) *Certs {
	t.Helper()
	dir := t.TempDir()
	c := &Certs{Dir: dir}
	caKey, caCert := mustCA(t, "respring test CA")
	c.CAPool = x509.NewCertPool()
	c.CAPool.AddCert(caCert)
	_, other := mustCA(t, "respring unrelated CA")
	c.OtherCAPool = x509.NewCertPool()
	c.OtherCAPool.AddCert(other)
	c.CAFile = filepath.Join(dir, "ca.crt")
	writePEM(t, c.CAFile, "CERTIFICATE", caCert.Raw)

	srvDER, srvKey := mustLeaf(t, caKey, caCert, "localhost", x509.ExtKeyUsageServerAuth)
	c.ServerCert, c.ServerKey = filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
	writePEM(t, c.ServerCert, "CERTIFICATE", srvDER)
	writePEM(t, c.ServerKey, "EC PRIVATE KEY", mustMarshalKey(t, srvKey))

	cliDER, cliKey := mustLeaf(t, caKey, caCert, "respring client", x509.ExtKeyUsageClientAuth)
	c.Client = tls.Certificate{Certificate: [][]byte{cliDER}, PrivateKey: cliKey}
	c.ClientCert, c.ClientKey = filepath.Join(dir, "client.crt"), filepath.Join(dir, "client.key")
	writePEM(t, c.ClientCert, "CERTIFICATE", cliDER)
	writePEM(t, c.ClientKey, "EC PRIVATE KEY", mustMarshalKey(t, cliKey))
	return c
}

func mustCA(t testing.TB, name string) (*ecdsa.PrivateKey, *x509.Certificate) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return key, cert
}

func mustLeaf(t testing.TB, caKey *ecdsa.PrivateKey, ca *x509.Certificate, cn string, usage x509.ExtKeyUsage) ([]byte, *ecdsa.PrivateKey) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return der, key
}

func mustMarshalKey(t testing.TB, k *ecdsa.PrivateKey) []byte {
	b, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// StartTLS starts a throwaway redis-server that also listens with TLS on a free
// loopback port (TLSAddr), using certs; authClients is redis-server's
// --tls-auth-clients ("no", "yes" or "optional"). extra are more arguments.
func StartTLS(t testing.TB, certs *Certs, authClients string, extra ...string) (*Server, string) {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{
		"--tls-port", strconv.Itoa(port),
		"--tls-cert-file", certs.ServerCert, "--tls-key-file", certs.ServerKey,
		"--tls-ca-cert-file", certs.CAFile, "--tls-auth-clients", authClients,
	}, extra...)
	s := Start(t, args...)
	return s, "127.0.0.1:" + strconv.Itoa(port)
}
