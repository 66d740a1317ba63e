package openstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/transfer"
)

// UploadInput is an image to make from local data: a disk image encoded on the way, or
// bytes already in the target format.
type UploadInput struct {
	// Image is the image to create; its DiskFormat is the target format.
	Image NewImage
	// Method is MethodUpload ("" too) or MethodGlanceDirect.
	Method string
	// Source is a disk image, encoded into Image.DiskFormat by transfer.Encode: its bytes as
	// they are when they already have that format, else streamed through the format's
	// writer, else through a spool file. Encode holds the writer options, the spool's
	// directory and the Finish hook; its Format, when empty, is Image.DiskFormat (set it for a
	// Glance format that is another's bytes: raw for ami).
	Source *transfer.Source
	Encode transfer.Options
	// Data is used instead of Source: bytes already in Image.DiskFormat (a download from
	// another Glance). It gets the same read-ahead as an encoded stream.
	Data io.Reader
	// Size is the total the progress counts against; 0 is Source's virtual size.
	Size int64
	// Timeout, if set, bounds the upload and the wait until the image is active (not the
	// writing of a spool file). TimeoutName is the setting it comes from, named in the error
	// when it passes ("state_timeout").
	Timeout     time.Duration
	TimeoutName string
	// Progress sees the bytes sent; Status sees the image's statuses (with the time
	// elapsed) and the way the data is produced.
	Progress transfer.Progress
	Status   func(string)
}

// UploadImage is the one way the faces publish local data into Glance: it encodes the data
// (transfer.Encode), creates the image private, sends the data with the import method, waits
// until it is active, has Image.Verify check it, and only then gives it its visibility and
// members (createAndFill). On any failure the image is deleted.
func UploadImage(ctx context.Context, c *gophercloud.ServiceClient, in UploadInput) (*images.Image, error) {
	switch in.Method {
	case "", MethodUpload, MethodGlanceDirect:
	default:
		return nil, fmt.Errorf("import method %q: want %s or %s", in.Method, MethodUpload, MethodGlanceDirect)
	}
	status := func(string) {}
	if in.Status != nil {
		status = in.Status
	}
	var data io.Reader
	size := in.Size
	switch {
	case in.Source != nil:
		opts := in.Encode
		if opts.Format == "" {
			opts.Format = in.Image.DiskFormat
		}
		if opts.Say == nil {
			opts.Say = status
		}
		s, err := transfer.Encode(ctx, *in.Source, opts)
		if err != nil {
			return nil, err
		}
		defer s.Close()
		data = s
		if size == 0 {
			size = in.Source.Image.Size()
		}
	case in.Data != nil:
		ahead := transfer.NewReadAhead(in.Data, transfer.ReadAheadChunk, transfer.ReadAheadDepth)
		defer ahead.Close()
		data = ahead
	default:
		return nil, errors.New("upload: no data")
	}
	data = transfer.Counting(data, size, in.Progress)

	wctx := ctx
	if in.Timeout > 0 {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, in.Timeout)
		defer cancel()
	}
	start := time.Now()
	img, err := UploadWith(wctx, c, in.Method, in.Image, data, func(st string) {
		status(fmt.Sprintf("Image %s: %s (%s)", in.Image.Name, st, time.Since(start).Round(time.Second)))
	})
	if err != nil {
		name := in.TimeoutName
		if name == "" {
			name = "timeout"
		}
		return nil, TimeoutErr(ctx, err, name, in.Timeout)
	}
	return img, nil
}

// TimeoutErr says so when err ended a wait because the timeout of the setting name passed
// (rather than parent being cancelled).
func TimeoutErr(parent context.Context, err error, name string, timeout time.Duration) error {
	if err != nil && errors.Is(err, context.DeadlineExceeded) && parent.Err() == nil {
		return fmt.Errorf("%s (%s) reached: %w", name, timeout, err)
	}
	return err
}
