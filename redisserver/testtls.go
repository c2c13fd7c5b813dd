package redisserver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// NewTestTLS writes a throwaway certificate authority, and a certificate it
// signed for 127.0.0.1, ::1, localhost and hosts (more names or IP
// addresses, such as a container network alias), valid for a day, into dir
// (which must exist), and returns TLSOptions that use them: set them as
// Options.TLS, and give clients ClientTLSConfig. The certificate allows
// server and client authentication, as Redis also presents it on
// replication and cluster bus links, so the same options serve a cluster
// (Options.Cluster) and AuthClients. For tests only: the private keys are
// written unprotected.
func NewTestTLS(dir string, hosts ...string) (*TLSOptions, error) {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("redisserver: test TLS: %w", err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "redisserver test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("redisserver: test TLS: %w", err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, fmt.Errorf("redisserver: test TLS: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("redisserver: test TLS: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("redisserver: test TLS: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("redisserver: test TLS: %w", err)
	}
	o := &TLSOptions{
		CAFile:   filepath.Join(dir, "ca.pem"),
		CertFile: filepath.Join(dir, "cert.pem"),
		KeyFile:  filepath.Join(dir, "key.pem"),
	}
	for _, f := range []struct {
		path, typ string
		der       []byte
	}{{o.CAFile, "CERTIFICATE", caDER}, {o.CertFile, "CERTIFICATE", der}, {o.KeyFile, "EC PRIVATE KEY", keyDER}} {
		if err := os.WriteFile(f.path, pem.EncodeToMemory(&pem.Block{Type: f.typ, Bytes: f.der}), 0o600); err != nil {
			return nil, fmt.Errorf("redisserver: test TLS: %w", err)
		}
	}
	return o, nil
}

// ClientTLSConfig returns the TLS configuration a client of a server with
// these options should use, the one Do uses: a clone of ClientConfig when
// it is set, else one that trusts CAFile and, when AuthClients is set,
// presents CertFile and KeyFile.
func (t *TLSOptions) ClientTLSConfig() (*tls.Config, error) {
	return clientTLSConfig(t)
}
