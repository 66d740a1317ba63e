variable "source_path" { type = string }
variable "output_directory" { type = string }
variable "report_file" { type = string }
variable "dry_run" { type = bool }

source "chromogenic-local" "clean" {
  source_path      = var.source_path
  output_directory = var.output_directory
  mount_path       = "${var.output_directory}/mnt"
}

build {
  sources = ["source.chromogenic-local.clean"]

  # Make the sample look like a used instance.
  provisioner "shell" {
    inline = [
      "useradd -m -s /bin/bash alice && echo 'ls -la' > /home/alice/.bash_history",
      "echo 'rm -rf /' > /root/.bash_history",
      "echo 0123456789abcdef0123456789abcdef > /etc/machine-id",
      "mkdir -p /etc/ssh && echo KEY > /etc/ssh/ssh_host_ed25519_key",
      "mkdir -p /var/log && echo 'log line' > /var/log/syslog && chmod 640 /var/log/syslog",
      "mkdir -p /var/lib/cloud/instances/i-1 && echo x > /var/lib/cloud/instances/i-1/obj.pkl",
      "echo 'secret=1' > /etc/app.conf && echo 'keep=1' >> /etc/app.conf",
    ]
  }

  provisioner "chromogenic-clean" {
    operations  = ["defaults", "+user-account"]
    dry_run     = var.dry_run
    report_file = var.report_file
    delete_lines {
      file   = "/etc/app.conf"
      regexp = "^secret="
    }
  }
}
