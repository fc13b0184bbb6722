// Package netguard protects outgoing webhook requests against server-side
// request forgery (SSRF): a merchant must not be able to make Kassa send
// requests to its own loopback interface, to the private network it runs in or
// to a cloud metadata service.
//
// The guard works in two places:
//
//   - When a destination is created or changed: [CheckURL] validates the URL
//     (its errors are fit for a 400 naming the field url), then, in live mode,
//     [CheckHost] resolves u.Hostname() and refuses it if any address it
//     resolves to is [Forbidden].
//   - At every delivery: the HTTP client dials through [Dialer], whose
//     Control hook inspects the address actually being connected to, after
//     DNS resolution, so a name that resolved to a public address at creation
//     and to 127.0.0.1 later (DNS rebinding) is still refused. Such dial
//     errors satisfy errors.Is(err, [ErrForbiddenAddress]).
//
// The delivery transport must not use a proxy (set http.Transport.Proxy to
// nil, not http.ProxyFromEnvironment): through a proxy the dialer only sees
// the proxy's address and the proxy connects to the target unchecked.
// Redirects must not be followed either (webhook policy already treats 3xx
// as a failure).
package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"
)

// MaxURLLength is the longest destination URL accepted, in characters.
const MaxURLLength = 2048

// ErrInvalidURL is matched (errors.Is) by every error [CheckURL] returns.
var ErrInvalidURL = errors.New("invalid url")

// ErrForbiddenAddress is matched (errors.Is) by the error of [CheckHost] for
// a host with a forbidden address and by the dial error of a [Dialer] that
// refused a connection.
var ErrForbiddenAddress = errors.New("forbidden address")

// urlError is an ErrInvalidURL whose message is meant for the API client.
type urlError string

func (e urlError) Error() string        { return string(e) }
func (e urlError) Is(target error) bool { return target == ErrInvalidURL }

// CheckURL parses raw as a webhook destination URL: an absolute http or https
// URL of at most [MaxURLLength] characters, with a host, a valid port if any,
// and no user info. It does not look at what the host resolves to (see
// [CheckHost]). Errors match [ErrInvalidURL] and their messages name the
// field, e.g. "url must be an absolute http or https URL".
func CheckURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, urlError("url is required")
	}
	if utf8.RuneCountInString(raw) > MaxURLLength {
		return nil, urlError("url must be at most " + strconv.Itoa(MaxURLLength) + " characters")
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Opaque != "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, urlError("url must be an absolute http or https URL")
	}
	if u.User != nil {
		return nil, urlError("url must not contain a user name or password")
	}
	if u.Hostname() == "" {
		return nil, urlError("url must have a host")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, urlError("url must have a port between 1 and 65535")
		}
	}
	return u, nil
}

var (
	// IPv4 ranges beyond what netip's predicates cover. Order matters: the
	// first match names the class.
	v4Ranges = []classRange{
		{netip.MustParsePrefix("169.254.169.254/32"), "metadata"}, // AWS, GCP, Azure, OCI, …
		{netip.MustParsePrefix("255.255.255.255/32"), "broadcast"},
		{netip.MustParsePrefix("0.0.0.0/8"), "this-network"},
		{netip.MustParsePrefix("100.64.0.0/10"), "carrier-grade NAT"}, // incl. Alibaba metadata 100.100.100.200
		{netip.MustParsePrefix("192.0.0.0/24"), "reserved"},           // IETF protocol assignments
		{netip.MustParsePrefix("198.18.0.0/15"), "reserved"},          // benchmarking, often internal
		{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
	}
	v6Ranges = []classRange{
		{netip.MustParsePrefix("fd00:ec2::254/128"), "metadata"}, // AWS IMDS over IPv6
		{netip.MustParsePrefix("fec0::/10"), "site-local"},       // deprecated, still routed in places
		{netip.MustParsePrefix("64:ff9b:1::/48"), "private"},     // local-use NAT64 (RFC 8215)
		{netip.MustParsePrefix("::/96"), "reserved"},             // deprecated IPv4-compatible
	}
	nat64 = netip.MustParsePrefix("64:ff9b::/96") // well-known NAT64 prefix (RFC 6052)
)

type classRange struct {
	prefix netip.Prefix
	class  string
}

// Classify names the class of a forbidden address ("loopback", "private",
// "link-local", "metadata", "unspecified", "multicast", "broadcast",
// "carrier-grade NAT", "this-network", "site-local", "reserved", "invalid"),
// or returns "" for an address webhooks may be sent to. IPv4-mapped IPv6
// addresses and IPv4 addresses embedded in the NAT64 prefix 64:ff9b::/96 are
// classified as the IPv4 address they stand for; zones are ignored.
func Classify(ip netip.Addr) string {
	if !ip.IsValid() {
		return "invalid"
	}
	ip = ip.WithZone("").Unmap()
	if ip.Is6() && nat64.Contains(ip) {
		b := ip.As16()
		ip = netip.AddrFrom4([4]byte(b[12:]))
	}
	switch {
	case ip.IsUnspecified():
		return "unspecified"
	case ip.IsLoopback():
		return "loopback"
	}
	ranges := v6Ranges
	if ip.Is4() {
		ranges = v4Ranges
	}
	for _, r := range ranges {
		if r.prefix.Contains(ip) {
			return r.class
		}
	}
	switch {
	case ip.IsPrivate():
		return "private"
	case ip.IsLinkLocalUnicast():
		return "link-local"
	case ip.IsMulticast():
		return "multicast"
	}
	return ""
}

// Forbidden reports whether webhooks must not be sent to ip: loopback,
// private (RFC 1918, fc00::/7), link-local (169.254.0.0/16 with the
// 169.254.169.254 metadata address, fe80::/10), unspecified, multicast,
// broadcast, carrier-grade NAT (100.64.0.0/10), 0.0.0.0/8, the IPv6 metadata
// address fd00:ec2::254, a few reserved ranges, the IPv4-mapped and NAT64
// forms of all IPv4 ones, and the invalid zero Addr. See [Classify].
func Forbidden(ip netip.Addr) bool { return Classify(ip) != "" }

// ForbiddenError reports a forbidden address. It matches
// [ErrForbiddenAddress].
type ForbiddenError struct {
	Host  string     // the host name that resolved to Addr; empty for a dial or a literal IP
	Addr  netip.Addr // the refused address (invalid if it could not be parsed)
	Class string     // see Classify
	Dial  bool       // refused when connecting rather than by CheckHost
}

func (e *ForbiddenError) Error() string {
	what := article(e.Class) + " " + e.Class + " address"
	switch {
	case e.Addr.IsValid():
		what += " (" + e.Addr.String() + ")"
	case e.Host != "":
		what += " (" + e.Host + ")"
	}
	if e.Dial {
		return "netguard: refusing to connect to " + what
	}
	return "url resolves to " + what
}

// Is makes errors.Is(err, ErrForbiddenAddress) true.
func (e *ForbiddenError) Is(target error) bool { return target == ErrForbiddenAddress }

func article(word string) string {
	if word != "" && strings.ContainsRune("aeiou", rune(word[0])) {
		return "an"
	}
	return "a"
}

// CheckHost refuses host if it is, or resolves to, any forbidden address. host
// is a host name or a literal IP as returned by url.URL.Hostname (brackets
// around an IPv6 literal are tolerated; a port is not). A nil resolver means
// net.DefaultResolver. "localhost" and names under ".localhost" are refused
// without a lookup. A forbidden address gives a *[ForbiddenError] (message
// e.g. "url resolves to a private address (10.0.0.5)"); a failed lookup, or
// one with no address, gives an error whose message starts "url host" and
// which wraps the resolver's error (a *net.DNSError, possibly temporary).
// Every message is fit for a 400 naming the field url.
func CheckHost(ctx context.Context, resolver *net.Resolver, host string) error {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "" {
		return urlError("url must have a host")
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if c := Classify(ip); c != "" {
			return &ForbiddenError{Addr: ip, Class: c}
		}
		return nil
	}
	name := strings.ToLower(strings.TrimSuffix(host, "."))
	if name == "localhost" || strings.HasSuffix(name, ".localhost") {
		return &ForbiddenError{Host: host, Class: "loopback"}
	}
	if resolver == nil {
		resolver = net.DefaultResolver
	}
	addrs, err := resolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
			return fmt.Errorf("url host %s does not resolve: %w", host, err)
		}
		return fmt.Errorf("url host %s cannot be resolved: %w", host, err)
	}
	if len(addrs) == 0 {
		return fmt.Errorf("url host %s does not resolve", host)
	}
	for _, a := range addrs {
		a = a.Unmap()
		if c := Classify(a); c != "" {
			return &ForbiddenError{Host: host, Addr: a, Class: c}
		}
	}
	return nil
}

// Dialer returns a dialer with the given connect timeout whose Control hook
// refuses to connect to a [Forbidden] address (with a *[ForbiddenError]) or
// over anything but TCP; both errors match [ErrForbiddenAddress]. The check runs on the
// address being connected to, after DNS resolution, so it also holds against
// DNS rebinding. Use its DialContext as http.Transport.DialContext (with
// Proxy nil).
func Dialer(timeout time.Duration) *net.Dialer {
	return &net.Dialer{Timeout: timeout, Control: control}
}

func control(network, address string, _ syscall.RawConn) error {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return fmt.Errorf("netguard: refusing to dial %s %s: %w", network, address, ErrForbiddenAddress)
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("netguard: refusing to dial unparseable address %q: %w", address, ErrForbiddenAddress)
	}
	if c := Classify(ap.Addr()); c != "" {
		return &ForbiddenError{Addr: ap.Addr(), Class: c, Dial: true}
	}
	return nil
}
