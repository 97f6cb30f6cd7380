package controlplane

import (
	"errors"
	"fmt"
	"os"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// KubeconfigContext is the name of the cluster, user and context written by
// WriteKubeconfig.
const KubeconfigContext = "sparkplane"

// Kubeconfig returns a kubeconfig for cp.Config, with certificates, token
// and CA embedded (files referenced by the rest.Config are read in).
func (cp *ControlPlane) Kubeconfig() (*clientcmdapi.Config, error) {
	if cp.Config == nil {
		return nil, errors.New("control plane has no client config")
	}
	return kubeconfigFor(cp.Config, KubeconfigContext)
}

// WriteKubeconfig writes a kubeconfig file for cp.Config (embedding
// certs/token/CA as the rest.Config has them) with mode 0600. The apiserver
// authenticates the embedded loopback token only while it runs.
func (cp *ControlPlane) WriteKubeconfig(path string) error {
	cfg, err := cp.Kubeconfig()
	if err != nil {
		return fmt.Errorf("building kubeconfig: %w", err)
	}
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("writing kubeconfig %s: %w", path, err)
	}
	return nil
}

func kubeconfigFor(rc *rest.Config, name string) (*clientcmdapi.Config, error) {
	cluster := clientcmdapi.NewCluster()
	cluster.Server = rc.Host
	cluster.TLSServerName = rc.ServerName
	cluster.InsecureSkipTLSVerify = rc.Insecure
	caData, err := dataOrFile(rc.CAData, rc.CAFile)
	if err != nil {
		return nil, fmt.Errorf("reading CA: %w", err)
	}
	cluster.CertificateAuthorityData = caData

	user := clientcmdapi.NewAuthInfo()
	if user.ClientCertificateData, err = dataOrFile(rc.CertData, rc.CertFile); err != nil {
		return nil, fmt.Errorf("reading client certificate: %w", err)
	}
	if user.ClientKeyData, err = dataOrFile(rc.KeyData, rc.KeyFile); err != nil {
		return nil, fmt.Errorf("reading client key: %w", err)
	}
	user.Token = rc.BearerToken
	if user.Token == "" && rc.BearerTokenFile != "" {
		token, err := os.ReadFile(rc.BearerTokenFile)
		if err != nil {
			return nil, fmt.Errorf("reading bearer token: %w", err)
		}
		user.Token = string(token)
	}
	user.Username = rc.Username
	user.Password = rc.Password
	if rc.Impersonate.UserName != "" {
		user.Impersonate = rc.Impersonate.UserName
		user.ImpersonateUID = rc.Impersonate.UID
		user.ImpersonateGroups = rc.Impersonate.Groups
		user.ImpersonateUserExtra = rc.Impersonate.Extra
	}

	kctx := clientcmdapi.NewContext()
	kctx.Cluster = name
	kctx.AuthInfo = name

	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[name] = cluster
	cfg.AuthInfos[name] = user
	cfg.Contexts[name] = kctx
	cfg.CurrentContext = name
	return cfg, nil
}

func dataOrFile(data []byte, file string) ([]byte, error) {
	if len(data) > 0 || file == "" {
		return data, nil
	}
	return os.ReadFile(file)
}
