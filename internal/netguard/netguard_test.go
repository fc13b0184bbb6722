package netguard

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestClassifyAndForbidden(t *testing.T) {
	tests := []struct {
		ip    string
		class string // "" = allowed
	}{
		// IPv4
		{"8.8.8.8", ""},
		{"1.1.1.1", ""},
		{"93.184.215.14", ""},
		{"11.0.0.1", ""},
		{"192.0.2.1", ""}, // documentation ranges are unroutable, not refused
		{"127.0.0.1", "loopback"},
		{"127.255.255.254", "loopback"},
		{"10.0.0.5", "private"},
		{"10.255.255.255", "private"},
		{"172.16.0.1", "private"},
		{"172.31.255.255", "private"},
		{"172.15.255.255", ""},
		{"172.32.0.1", ""},
		{"192.168.1.1", "private"},
		{"192.169.0.1", ""},
		{"169.254.169.254", "metadata"},
		{"169.254.1.1", "link-local"},
		{"169.255.0.1", ""},
		{"0.0.0.0", "unspecified"},
		{"0.1.2.3", "this-network"},
		{"224.0.0.1", "multicast"},
		{"239.255.255.250", "multicast"},
		{"255.255.255.255", "broadcast"},
		{"240.0.0.1", "reserved"},
		{"100.64.0.1", "carrier-grade NAT"},
		{"100.100.100.200", "carrier-grade NAT"},
		{"100.127.255.255", "carrier-grade NAT"},
		{"100.63.255.255", ""},
		{"100.128.0.1", ""},
		{"192.0.0.192", "reserved"},
		{"198.18.0.1", "reserved"},
		// IPv6
		{"2001:4860:4860::8888", ""},
		{"2606:4700::1111", ""},
		{"::1", "loopback"},
		{"::", "unspecified"},
		{"fc00::1", "private"},
		{"fd12:3456:789a::1", "private"},
		{"fd00:ec2::254", "metadata"},
		{"fd00:ec2::253", "private"},
		{"fe80::1", "link-local"},
		{"fe80::1%eth0", "link-local"},
		{"febf::1", "link-local"},
		{"fec0::1", "site-local"},
		{"ff02::1", "multicast"},
		{"ff05::1:3", "multicast"},
		{"::7f00:1", "reserved"}, // IPv4-compatible ::127.0.0.1
		// IPv4-mapped IPv6
		{"::ffff:127.0.0.1", "loopback"},
		{"::ffff:10.0.0.5", "private"},
		{"::ffff:192.168.0.1", "private"},
		{"::ffff:169.254.169.254", "metadata"},
		{"::ffff:169.254.3.4", "link-local"},
		{"::ffff:0.0.0.0", "unspecified"},
		{"::ffff:100.64.0.1", "carrier-grade NAT"},
		{"::ffff:255.255.255.255", "broadcast"},
		{"::ffff:224.0.0.1", "multicast"},
		{"::ffff:8.8.8.8", ""},
		// NAT64
		{"64:ff9b::7f00:1", "loopback"},
		{"64:ff9b::a9fe:a9fe", "metadata"},
		{"64:ff9b::a00:5", "private"},
		{"64:ff9b::808:808", ""},
		{"64:ff9b:1::1", "private"},
	}
	for _, tc := range tests {
		ip := netip.MustParseAddr(tc.ip)
		if got := Classify(ip); got != tc.class {
			t.Errorf("Classify(%s) = %q, want %q", tc.ip, got, tc.class)
		}
		if got, want := Forbidden(ip), tc.class != ""; got != want {
			t.Errorf("Forbidden(%s) = %v, want %v", tc.ip, got, want)
		}
	}
	if !Forbidden(netip.Addr{}) || Classify(netip.Addr{}) != "invalid" {
		t.Errorf("the zero Addr must be forbidden as invalid")
	}
}

func TestCheckURL(t *testing.T) {
	long := "https://example.com/" + strings.Repeat("a", MaxURLLength-len("https://example.com/"))
	good := []string{
		"https://example.com/hooks",
		"http://example.com",
		"https://example.com:8443/a/b?c=d&e=f#frag",
		"HTTPS://Example.COM/x",
		"http://127.0.0.1:8080/hook", // addresses are CheckHost's business
		"http://[::1]:8080/",
		"https://bücher.example/hook",
		"https://example.com/" + strings.Repeat("é", MaxURLLength-len("https://example.com/")), // characters, not bytes
		long,
	}
	for _, raw := range good {
		u, err := CheckURL(raw)
		if err != nil {
			t.Errorf("CheckURL(%.60q) = %v, want ok", raw, err)
			continue
		}
		if u.Scheme != "http" && u.Scheme != "https" || u.Hostname() == "" {
			t.Errorf("CheckURL(%.60q) = %v: bad parse", raw, u)
		}
	}

	bad := []struct {
		raw, msg string
	}{
		{"", "url is required"},
		{"ftp://example.com/hook", "url must be an absolute http or https URL"},
		{"file:///etc/passwd", "url must be an absolute http or https URL"},
		{"javascript:alert(1)", "url must be an absolute http or https URL"},
		{"gopher://example.com/", "url must be an absolute http or https URL"},
		{"example.com/hook", "url must be an absolute http or https URL"},
		{"/hook", "url must be an absolute http or https URL"},
		{"//example.com/hook", "url must be an absolute http or https URL"},
		{"http:example.com", "url must be an absolute http or https URL"},
		{" http://example.com", "url must be an absolute http or https URL"},
		{"http://exa mple.com/", "url must be an absolute http or https URL"},
		{"http://example.com/\x00", "url must be an absolute http or https URL"},
		{"http://[::1/", "url must be an absolute http or https URL"},
		{"http://", "url must have a host"},
		{"https:///path", "url must have a host"},
		{"http://:8080/", "url must have a host"},
		{"https://user:pass@example.com/", "url must not contain a user name or password"},
		{"https://user@example.com/", "url must not contain a user name or password"},
		{"https://@example.com/", "url must not contain a user name or password"},
		{"http://example.com:0/", "url must have a port between 1 and 65535"},
		{"http://example.com:65536/", "url must have a port between 1 and 65535"},
		{"http://example.com:99999999999999999999/", "url must have a port between 1 and 65535"},
		{long + "a", "url must be at most 2048 characters"},
		{strings.Repeat("x", 100000), "url must be at most 2048 characters"},
	}
	for _, tc := range bad {
		u, err := CheckURL(tc.raw)
		if err == nil {
			t.Errorf("CheckURL(%.60q) = %v, want error %q", tc.raw, u, tc.msg)
			continue
		}
		if err.Error() != tc.msg {
			t.Errorf("CheckURL(%.60q) error = %q, want %q", tc.raw, err, tc.msg)
		}
		if !errors.Is(err, ErrInvalidURL) || errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("CheckURL(%.60q) error %v: must be ErrInvalidURL only", tc.raw, err)
		}
	}
}

func TestCheckHostLiteralsAndLocalhost(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		host, msg string // msg "" = allowed
	}{
		{"8.8.8.8", ""},
		{"2001:4860:4860::8888", ""},
		{"[2001:4860:4860::8888]", ""},
		{"127.0.0.1", "url resolves to a loopback address (127.0.0.1)"},
		{"::1", "url resolves to a loopback address (::1)"},
		{"[::1]", "url resolves to a loopback address (::1)"},
		{"10.0.0.5", "url resolves to a private address (10.0.0.5)"},
		{"169.254.169.254", "url resolves to a metadata address (169.254.169.254)"},
		{"fe80::1%eth0", "url resolves to a link-local address (fe80::1%eth0)"},
		{"0.0.0.0", "url resolves to an unspecified address (0.0.0.0)"},
		{"::ffff:127.0.0.1", "url resolves to a loopback address (::ffff:127.0.0.1)"},
		{"100.64.0.1", "url resolves to a carrier-grade NAT address (100.64.0.1)"},
		{"localhost", "url resolves to a loopback address (localhost)"},
		{"LocalHost.", "url resolves to a loopback address (LocalHost.)"},
		{"api.localhost", "url resolves to a loopback address (api.localhost)"},
	}
	for _, tc := range tests {
		// A resolver that fails the test if used: literals and localhost
		// must not be looked up.
		r := &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
			t.Errorf("CheckHost(%q) used the resolver", tc.host)
			return nil, errors.New("no DNS in this test")
		}}
		err := CheckHost(ctx, r, tc.host)
		if tc.msg == "" {
			if err != nil {
				t.Errorf("CheckHost(%q) = %v, want nil", tc.host, err)
			}
			continue
		}
		if err == nil || err.Error() != tc.msg {
			t.Errorf("CheckHost(%q) = %v, want %q", tc.host, err, tc.msg)
		}
		if !errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("CheckHost(%q) = %v, not ErrForbiddenAddress", tc.host, err)
		}
	}
	if err := CheckHost(ctx, nil, ""); !errors.Is(err, ErrInvalidURL) {
		t.Errorf("CheckHost(\"\") = %v, want ErrInvalidURL", err)
	}
}

func TestCheckHostResolves(t *testing.T) {
	r := fakeResolver(map[string][]string{
		"public.test":   {"93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"},
		"internal.test": {"10.0.0.5"},
		"mixed.test":    {"93.184.215.14", "127.0.0.1"},
		"v6meta.test":   {"2606:2800:21f:cb07:6820:80da:af6b:8b2c", "fd00:ec2::254"},
		"empty.test":    {},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	if err := CheckHost(ctx, r, "public.test"); err != nil {
		t.Errorf("CheckHost(public.test) = %v, want nil", err)
	}
	for host, msg := range map[string]string{
		"internal.test": "url resolves to a private address (10.0.0.5)",
		"mixed.test":    "url resolves to a loopback address (127.0.0.1)",
		"v6meta.test":   "url resolves to a metadata address (fd00:ec2::254)",
	} {
		err := CheckHost(ctx, r, host)
		if err == nil || err.Error() != msg {
			t.Errorf("CheckHost(%s) = %v, want %q", host, err, msg)
		}
		var fe *ForbiddenError
		if !errors.Is(err, ErrForbiddenAddress) || !errors.As(err, &fe) || fe.Host != host || fe.Dial {
			t.Errorf("CheckHost(%s) = %#v: want a *ForbiddenError for the host", host, err)
		}
	}
	for _, host := range []string{"nx.test", "empty.test"} {
		err := CheckHost(ctx, r, host)
		if err == nil || !strings.HasPrefix(err.Error(), "url host "+host+" does not resolve") || errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("CheckHost(%s) = %v, want a does-not-resolve error", host, err)
		}
	}

	broken := &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
		return nil, errors.New("network unreachable")
	}}
	err := CheckHost(ctx, broken, "public.test")
	var dnsErr *net.DNSError
	if err == nil || !strings.HasPrefix(err.Error(), "url host public.test cannot be resolved") || !errors.As(err, &dnsErr) || errors.Is(err, ErrForbiddenAddress) {
		t.Errorf("CheckHost with a failing resolver = %v, want a cannot-be-resolved error wrapping *net.DNSError", err)
	}
}

func TestDialerRefusesLoopback(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "reached")
	}))
	defer srv.Close()

	// A plain client reaches the server.
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatalf("plain client: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "reached" {
		t.Fatalf("plain client got %q", b)
	}

	guarded := func(d *net.Dialer) *http.Client {
		return &http.Client{
			Timeout:   5 * time.Second,
			Transport: &http.Transport{Proxy: nil, DialContext: d.DialContext},
		}
	}
	check := func(what string, err error) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s: guarded client reached the server", what)
		}
		if !errors.Is(err, ErrForbiddenAddress) {
			t.Fatalf("%s: error %v is not ErrForbiddenAddress", what, err)
		}
		var fe *ForbiddenError
		if !errors.As(err, &fe) || !fe.Dial || fe.Class != "loopback" {
			t.Fatalf("%s: error %#v is not a loopback dial refusal", what, err)
		}
		if !strings.Contains(err.Error(), "refusing to connect to a loopback address (127.0.0.1)") {
			t.Fatalf("%s: error message %q", what, err)
		}
	}

	// By literal IP.
	resp, err = guarded(Dialer(2 * time.Second)).Get(srv.URL)
	if resp != nil {
		resp.Body.Close()
	}
	check("literal IP", err)

	// By a name that resolves to 127.0.0.1 at dial time (DNS rebinding: it
	// may have resolved to a public address when the destination was made).
	u, _ := url.Parse(srv.URL)
	d := Dialer(2 * time.Second)
	d.Resolver = fakeResolver(map[string][]string{"rebind.test": {"127.0.0.1"}})
	resp, err = guarded(d).Get("http://rebind.test:" + u.Port() + "/")
	if resp != nil {
		resp.Body.Close()
	}
	check("rebinding name", err)
}

func TestControl(t *testing.T) {
	tests := []struct {
		network, address string
		ok               bool
	}{
		{"tcp4", "93.184.215.14:443", true},
		{"tcp6", "[2606:2800:21f:cb07:6820:80da:af6b:8b2c]:443", true},
		{"tcp", "93.184.215.14:80", true},
		{"tcp4", "127.0.0.1:80", false},
		{"tcp6", "[::1]:80", false},
		{"tcp6", "[fe80::1%eth0]:80", false},
		{"tcp6", "[::ffff:169.254.169.254]:80", false},
		{"tcp4", "10.1.2.3:443", false},
		{"udp4", "93.184.215.14:53", false},
		{"unix", "/run/docker.sock", false},
		{"tcp4", "not-an-address", false},
	}
	for _, tc := range tests {
		err := Dialer(time.Second).Control(tc.network, tc.address, nil)
		if tc.ok != (err == nil) {
			t.Errorf("Control(%s, %s) = %v, want ok=%v", tc.network, tc.address, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("Control(%s, %s) = %v, not ErrForbiddenAddress", tc.network, tc.address, err)
		}
	}
}

// fakeResolver is a Go resolver answering A and AAAA queries from records
// over an in-memory DNS-over-TCP connection; names not in records get
// NXDOMAIN.
func fakeResolver(records map[string][]string) *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
			client, server := net.Pipe()
			go serveDNS(server, records)
			return client, nil
		},
	}
}

func serveDNS(c net.Conn, records map[string][]string) {
	defer c.Close()
	for {
		var l [2]byte
		if _, err := io.ReadFull(c, l[:]); err != nil {
			return
		}
		q := make([]byte, binary.BigEndian.Uint16(l[:]))
		if _, err := io.ReadFull(c, q); err != nil || len(q) < 12 {
			return
		}
		// Question: labels from offset 12, then type and class.
		i := 12
		var labels []string
		for i < len(q) && q[i] != 0 {
			n := int(q[i])
			if i+1+n > len(q) {
				return
			}
			labels = append(labels, string(q[i+1:i+1+n]))
			i += 1 + n
		}
		i++ // the root label
		if i+4 > len(q) {
			return
		}
		qtype := binary.BigEndian.Uint16(q[i:])
		question := q[12 : i+4]
		name := strings.ToLower(strings.Join(labels, "."))

		addrs, found := records[name]
		var answers [][]byte
		for _, a := range addrs {
			ip := netip.MustParseAddr(a)
			var typ uint16
			switch {
			case ip.Is4() && qtype == 1:
				typ = 1
			case ip.Is6() && qtype == 28:
				typ = 28
			default:
				continue
			}
			rr := []byte{0xc0, 0x0c} // pointer to the question's name
			rr = binary.BigEndian.AppendUint16(rr, typ)
			rr = binary.BigEndian.AppendUint16(rr, 1)  // class IN
			rr = binary.BigEndian.AppendUint32(rr, 60) // TTL
			rr = binary.BigEndian.AppendUint16(rr, uint16(ip.BitLen()/8))
			rr = append(rr, ip.AsSlice()...)
			answers = append(answers, rr)
		}
		flags := uint16(0x8180) // response, recursion desired and available
		if !found {
			flags |= 3 // NXDOMAIN
		}
		resp := append([]byte{}, q[0:2]...) // id
		resp = binary.BigEndian.AppendUint16(resp, flags)
		resp = binary.BigEndian.AppendUint16(resp, 1)
		resp = binary.BigEndian.AppendUint16(resp, uint16(len(answers)))
		resp = binary.BigEndian.AppendUint16(resp, 0)
		resp = binary.BigEndian.AppendUint16(resp, 0)
		resp = append(resp, question...)
		for _, rr := range answers {
			resp = append(resp, rr...)
		}
		msg := binary.BigEndian.AppendUint16(nil, uint16(len(resp)))
		if _, err := c.Write(append(msg, resp...)); err != nil {
			return
		}
	}
}
