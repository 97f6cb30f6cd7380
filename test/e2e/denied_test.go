package e2e

import (
	"context"
	"github.com/sparkplane/sparkplane/test/testkit"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sparkplane/sparkplane/pkg/localcluster"
)

// A driver refused for an invalid annotation: the first line spark-submit
// prints about the failure carries sparkplane's message right after
// "Message:", before any stack trace line, and nothing in it says the user
// lacks permission. (Spark logs `Please check "kubectl auth can-i create
// pod" first` before any failed driver create, whatever the status: that
// line is Spark's and stays.) docs/webhook.md shows the output.
func TestDeniedDriverMessageComesFirst(t *testing.T) {
	requireSpark(t)
	const ns = "denied"
	args := append(smallJob("denied", "spark.kubernetes.driver.annotation.sparkplane.io/zone-pinning=bogus"), app, "1", "6", "1", "0", "200000")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out := &testkit.Buffer{}
	run, err := cluster.Run(ctx, localcluster.Job{Namespace: ns, Args: args, Output: out})
	if err != nil {
		t.Fatal(err)
	}
	if run.SubmitErr == nil {
		t.Fatalf("spark-submit succeeded with an invalid driver annotation:\n%s", testkit.Tail(out.String(), 20))
	}
	if run.Driver != nil {
		t.Errorf("a driver pod was created: %+v", run.Driver)
	}
	lines := strings.Split(out.String(), "\n")
	message, trace := -1, -1
	for i, l := range lines {
		if message < 0 && strings.Contains(l, `sparkplane.io/zone-pinning="bogus" is not valid`) {
			message = i
		}
		if trace < 0 && strings.HasPrefix(l, "\tat ") {
			trace = i
		}
	}
	if message < 0 {
		t.Fatalf("spark-submit never printed sparkplane's message:\n%s", out.String())
	}
	t.Logf("spark-submit's output up to sparkplane's message (line %d of %d; first stack trace line %d):\n%s",
		message+1, len(lines), trace+1, strings.Join(lines[:message+1], "\n"))
	if trace >= 0 && trace < message {
		t.Errorf("sparkplane's message is on line %d, after the stack trace starting on line %d", message+1, trace+1)
	}
	want := regexp.MustCompile(`Message: admission webhook "[^"]+" denied the request: sparkplane: annotation sparkplane\.io/zone-pinning="bogus" is not valid: ` +
		`allowed values are required \(alias: on\), preferred, off \(set it with --conf spark\.kubernetes\.driver\.annotation\.sparkplane\.io/zone-pinning=<value>\)`)
	if !want.MatchString(lines[message]) {
		t.Errorf("the failure line does not put sparkplane's message right after \"Message:\":\n%s", lines[message])
	}
	for _, misleading := range []string{"Forbidden!", "doesn't have permission"} {
		if strings.Contains(lines[message], misleading) {
			t.Errorf("the failure line says %q, which sends users to their RBAC:\n%s", misleading, lines[message])
		}
	}
}
