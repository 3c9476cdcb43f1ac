/* Dropbear options for the Skiff guest (copied to localoptions.h by build.sh; the rest stays at
 * default_options.h). Keys only: a password never travels, and root has none anyway. */
#define DROPBEAR_SVR_PASSWORD_AUTH 0
/* The host key is ed25519 only (made at first boot by /etc/skiff/sshd: RSA generation is slow on an emulated CPU);
 * RSA and ECDSA stay for the keys users log in with. */
#define DO_MOTD 0
/* BusyBox's applets live in /usr/bin and /usr/sbin */
#define DEFAULT_PATH "/bin:/usr/bin:/usr/sbin"
#define DEFAULT_ROOT_PATH "/bin:/usr/bin:/usr/sbin"
#define SFTPSERVER_PATH "/usr/libexec/sftp-server"
