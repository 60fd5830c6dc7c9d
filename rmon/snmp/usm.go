package snmp

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"hash"
	"sync"

	"github.com/gosnmp/gosnmp"
)

// USM statistics (usmStats, RFC 3414), in the order of their OIDs.
const (
	usmUnsupportedSecLevels = iota + 1
	usmNotInTimeWindows
	usmUnknownUserNames
	usmUnknownEngineIDs
	usmWrongDigests
	usmDecryptionErrors
)

// timeWindow is the USM timeliness window (RFC 3414 section 3.2, step 7).
const timeWindow = 150

// maxBoots is the value at which an engine's boots counter latches.
const maxBoots = 1<<31 - 1

// user is a configured USM user with keys localized to our engine ID.
type user struct {
	name    string
	auth    gosnmp.SnmpV3AuthProtocol
	priv    gosnmp.SnmpV3PrivProtocol
	authKey []byte
	privKey []byte
	macLen  int
	newHash func() hash.Hash
	block   cipher.Block // AES with the localized privacy key, made once
	macs    sync.Pool    // HMAC states keyed with authKey, reused
	access  *access
}

// level is the highest security level the user supports (msgFlags bits).
func (u *user) level() byte {
	switch {
	case u.priv != gosnmp.NoPriv:
		return flagAuth | flagPriv
	case u.auth != gosnmp.NoAuth:
		return flagAuth
	}
	return 0
}

// macLens are the truncated HMAC lengths (RFC 3414, RFC 7860).
var macLens = map[gosnmp.SnmpV3AuthProtocol]int{
	gosnmp.SHA: 12, gosnmp.SHA224: 16, gosnmp.SHA256: 24, gosnmp.SHA384: 32, gosnmp.SHA512: 48,
}

// newUser localizes the user's passphrases to engineID with gosnmp's USM
// key functions (RFC 3414 A.2, RFC 7860, and the AES-192/256 key
// extensions gosnmp implements).
func newUser(u User, engineID []byte, acc *access) (*user, error) {
	out := &user{name: u.Name, auth: u.Auth, priv: u.Priv, access: acc}
	if out.auth == 0 {
		out.auth = gosnmp.NoAuth
	}
	if out.priv == 0 {
		out.priv = gosnmp.NoPriv
	}
	if out.auth != gosnmp.NoAuth {
		n, ok := macLens[out.auth]
		if !ok {
			return nil, fmt.Errorf("snmp: user %s: unsupported authentication protocol %v", u.Name, out.auth)
		}
		out.macLen = n
		out.newHash = out.auth.HashType().New
	}
	switch out.priv {
	case gosnmp.NoPriv:
	case gosnmp.AES, gosnmp.AES192, gosnmp.AES256, gosnmp.AES192C, gosnmp.AES256C:
		if out.auth == gosnmp.NoAuth {
			return nil, fmt.Errorf("snmp: user %s: privacy needs authentication", u.Name)
		}
	default:
		return nil, fmt.Errorf("snmp: user %s: unsupported privacy protocol %v", u.Name, out.priv)
	}
	sp := &gosnmp.UsmSecurityParameters{
		AuthoritativeEngineID:    string(engineID),
		UserName:                 u.Name,
		AuthenticationProtocol:   out.auth,
		PrivacyProtocol:          out.priv,
		AuthenticationPassphrase: u.AuthPass,
		PrivacyPassphrase:        u.PrivPass,
	}
	if err := sp.InitSecurityKeys(); err != nil {
		return nil, fmt.Errorf("snmp: user %s: localizing keys: %w", u.Name, err)
	}
	out.authKey, out.privKey = sp.SecretKey, sp.PrivacyKey
	if out.priv != gosnmp.NoPriv {
		b, err := aes.NewCipher(out.privKey)
		if err != nil {
			return nil, fmt.Errorf("snmp: user %s: %w", u.Name, err)
		}
		out.block = b
	}
	return out, nil
}

// mac computes the truncated HMAC of msg (whose auth parameters are zero).
func (u *user) mac(msg []byte) []byte {
	h, _ := u.macs.Get().(hash.Hash)
	if h == nil {
		h = hmac.New(u.newHash, u.authKey)
	}
	h.Reset()
	h.Write(msg)
	sum := h.Sum(nil)[:u.macLen]
	u.macs.Put(h)
	return sum
}

// verify checks the HMAC of a received message: the digest field is
// zeroed in a copy and the HMAC recomputed (RFC 3414 6.3.2 / RFC 7860 4.2.2).
func (u *user) verify(raw []byte, m *Message) bool {
	if len(m.AuthParams) != u.macLen {
		return false
	}
	// The digest is computed with its own field zeroed: zero it in place
	// and put it back (m.AuthParams aliases it, so keep a copy).
	var got [64]byte
	field := raw[m.authOff : m.authOff+u.macLen]
	copy(got[:], field)
	clear(field)
	want := u.mac(raw)
	copy(field, got[:u.macLen])
	return subtle.ConstantTimeCompare(want, got[:u.macLen]) == 1
}

// cfb runs AES-CFB128 (RFC 3826) over b in place with the IV made of the
// authoritative engine's boots and time and the 64-bit salt.
func (u *user) cfb(b []byte, boots, etime uint32, salt []byte, decrypt bool) error {
	if len(salt) != 8 {
		return fmt.Errorf("snmp: privacy parameters of %d bytes", len(salt))
	}
	if u.block == nil {
		return fmt.Errorf("snmp: user %s has no privacy key", u.name)
	}
	block := u.block
	var iv [16]byte
	binary.BigEndian.PutUint32(iv[0:], boots)
	binary.BigEndian.PutUint32(iv[4:], etime)
	copy(iv[8:], salt)
	if decrypt {
		//lint:ignore SA1019 RFC 3826 specifies CFB-128
		cipher.NewCFBDecrypter(block, iv[:]).XORKeyStream(b, b)
	} else {
		//lint:ignore SA1019 RFC 3826 specifies CFB-128
		cipher.NewCFBEncrypter(block, iv[:]).XORKeyStream(b, b)
	}
	return nil
}
