package workers

import (
	"reflect"
	"testing"
)

func TestMissingLocalClients(t *testing.T) {
	all := Config{OrderServiceURL: "http://o", PaymentServiceURL: "http://p", InventoryServiceURL: "http://i"}
	cases := []struct {
		name  string
		pools []string
		cfg   Config
		want  []string
	}{
		{name: "sagas with every URL", pools: []string{PoolSagas}, cfg: all, want: nil},
		{name: "sagas without URLs", pools: []string{PoolSagas}, cfg: Config{},
			want: []string{"INVENTORY_SERVICE_URL", "ORDER_SERVICE_URL", "PAYMENT_SERVICE_URL"}},
		{name: "sagas without the payment URL", pools: []string{PoolSagas, PoolOrders},
			cfg: Config{OrderServiceURL: "http://o", InventoryServiceURL: "http://i"}, want: []string{"PAYMENT_SERVICE_URL"}},
		{name: "no sagas pool", pools: []string{PoolPayments}, cfg: Config{PaymentServiceURL: "http://p"}, want: nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := missingLocalClients(tc.pools, tc.cfg); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("missing %v, want %v", got, tc.want)
			}
		})
	}
}
