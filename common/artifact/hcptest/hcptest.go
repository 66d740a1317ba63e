// Package hcptest reads an artifact's HCP Packer metadata the way Packer does, for tests:
// the artifact is served over the SDK's plugin RPC (msgpack on a yamux stream, as between
// a plugin process and Packer), its registryimage.ArtifactStateURI state read through the
// RPC client Packer holds, decoded as Packer's registry code decodes it (mapstructure,
// weakly typed, unused keys allowed, into []registryimage.Image) and each image validated
// as the registry does before a push. It trusts the SDK and is trusted by nothing but tests.
package hcptest

import (
	"net"
	"testing"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	registryimage "github.com/hashicorp/packer-plugin-sdk/packer/registry/image"
	sdkrpc "github.com/hashicorp/packer-plugin-sdk/rpc"
	"github.com/mitchellh/mapstructure"
)

// Remote serves a over the SDK's plugin RPC and returns the artifact as Packer sees it.
func Remote(t testing.TB, a packersdk.Artifact) packersdk.Artifact {
	t.Helper()
	serverConn, clientConn := net.Pipe()
	server, err := sdkrpc.NewServer(serverConn)
	if err != nil {
		t.Fatal(err)
	}
	if err := server.RegisterArtifact(a); err != nil {
		t.Fatal(err)
	}
	go server.Serve()
	client, err := sdkrpc.NewClient(clientConn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		client.Close()
		server.Close()
	})
	return client.Artifact()
}

// Images returns the registry images of a as Packer decodes them across the RPC. It fails t
// when the state is missing (Packer: "produced an artifact that cannot be pushed to HCP
// Packer"), does not decode, is empty or holds an image the registry refuses.
func Images(t testing.TB, a packersdk.Artifact) []registryimage.Image {
	t.Helper()
	state := Remote(t, a).State(registryimage.ArtifactStateURI)
	if state == nil {
		t.Fatalf("%s artifact: no %s state", a.BuilderId(), registryimage.ArtifactStateURI)
	}
	var imgs []registryimage.Image
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{Result: &imgs, WeaklyTypedInput: true, ErrorUnused: false})
	if err != nil {
		t.Fatal(err)
	}
	if err := dec.Decode(state); err != nil {
		t.Fatalf("%s artifact: %s state %#v does not decode: %v", a.BuilderId(), registryimage.ArtifactStateURI, state, err)
	}
	if len(imgs) == 0 {
		t.Fatalf("%s artifact: %s state holds no image", a.BuilderId(), registryimage.ArtifactStateURI)
	}
	for i := range imgs {
		if err := imgs[i].Validate(); err != nil {
			t.Errorf("%s artifact: image %d %+v: %v", a.BuilderId(), i, imgs[i], err)
		}
	}
	return imgs
}
